package telemetry

// Instrument describes one metric: its OpenTelemetry name and unit, the
// name Prometheus scrapes (the exporter derives it: dots become
// underscores, the unit and, for counters, _total are appended), its
// labels, and what it means. docs/operations.md lists the same table; a
// test keeps the two equal.
type Instrument struct {
	Name   string // OpenTelemetry name
	Prom   string // the name in /metrics
	Kind   Kind
	Unit   string
	Labels []string
	Help   string
}

// Kind is an instrument's kind.
type Kind string

// Kinds of instrument.
const (
	Counter   Kind = "counter"
	Gauge     Kind = "gauge"
	Histogram Kind = "histogram"
)

// The instruments, grouped by what they watch. Labels are bounded: by
// source, reason, rule, sink or partition, never by key.
var (
	mEvents         = Instrument{"vigil.events", "vigil_events_total", Counter, "{event}", []string{"source", "outcome", "reason"}, "Events offered, by source and outcome: accepted, late, or rejected with its reason."}
	mProcessed      = Instrument{"vigil.events.processed", "vigil_events_processed_total", Counter, "{event}", nil, "Events matched against the rules."}
	mBuffered       = Instrument{"vigil.input.buffered", "vigil_input_buffered", Gauge, "{event}", []string{"input"}, "Accepted events waiting for their input's watermark."}
	mWatermarkLag   = Instrument{"vigil.watermark.lag", "vigil_watermark_lag_seconds", Gauge, "s", []string{"input"}, "Wall clock minus the watermark, per input (input=\"exchange\": the exchange's)."}
	mInputIdle      = Instrument{"vigil.input.idle", "vigil_input_idle", Gauge, "", []string{"input"}, "1 while an input is idle and left out of the exchange's watermark."}
	mAlerts         = Instrument{"vigil.alerts", "vigil_alerts_total", Counter, "{alert}", []string{"rule", "severity", "shadow", "suppressed"}, "Alerts raised, suppressed and shadow ones included."}
	mRuleEval       = Instrument{"vigil.rule.evaluation.duration", "vigil_rule_evaluation_duration_seconds", Histogram, "s", []string{"rule"}, "Time one rule takes on one event (where, key and matcher), sampled: one event in 64."}
	mRuleErrors     = Instrument{"vigil.rule.errors", "vigil_rule_errors_total", Counter, "{error}", []string{"rule"}, "Expression runtime errors."}
	mKeyFailures    = Instrument{"vigil.rule.key_failures", "vigil_rule_key_failures_total", Counter, "{event}", []string{"rule"}, "Events whose key could not be computed."}
	mKeys           = Instrument{"vigil.rule.keys", "vigil_rule_keys", Gauge, "{key}", []string{"rule"}, "Keys holding state."}
	mPartial        = Instrument{"vigil.rule.partial_matches", "vigil_rule_partial_matches", Gauge, "{match}", []string{"rule"}, "Partial matches held (sequence rules)."}
	mEvictions      = Instrument{"vigil.rule.evictions", "vigil_rule_evictions_total", Counter, "{match}", []string{"rule"}, "Partial matches evicted by max_partial_matches."}
	mExpired        = Instrument{"vigil.rule.expired_keys", "vigil_rule_expired_keys_total", Counter, "{key}", []string{"rule"}, "Keys released by the state TTL."}
	mRules          = Instrument{"vigil.rules.loaded", "vigil_rules_loaded", Gauge, "{rule}", nil, "Rules in the running ruleset."}
	mRulesetVersion = Instrument{"vigil.ruleset.version", "vigil_ruleset_version", Gauge, "", nil, "Version of the running ruleset."}
	mQueue          = Instrument{"vigil.delivery.queue", "vigil_delivery_queue", Gauge, "{alert}", nil, "Alerts raised and not yet written to every sink."}
	mDelivery       = Instrument{"vigil.delivery.duration", "vigil_delivery_duration_seconds", Histogram, "s", []string{"outcome"}, "Time of one attempt to write a batch of alerts to the sinks, by outcome (ok, error)."}
	mSinkWrite      = Instrument{"vigil.sink.write.duration", "vigil_sink_write_duration_seconds", Histogram, "s", []string{"sink", "outcome"}, "Time of one batch write to one sink, by outcome (ok, error)."}
	mSinkAlerts     = Instrument{"vigil.sink.alerts", "vigil_sink_alerts_total", Counter, "{alert}", []string{"sink"}, "Alerts a sink took (the webhook: queued)."}
	mSinkFailures   = Instrument{"vigil.sink.failures", "vigil_sink_failures_total", Counter, "{write}", []string{"sink"}, "Batch writes to a sink that failed (the engine retries them)."}
	mSinkQueue      = Instrument{"vigil.sink.queue", "vigil_sink_queue", Gauge, "{alert}", []string{"sink"}, "Alerts a sink holds for delivery (the webhook's queue)."}
	mSinkRetries    = Instrument{"vigil.sink.retries", "vigil_sink_retries_total", Counter, "{attempt}", []string{"sink"}, "Failed delivery attempts a sink retries itself (the webhook's requests)."}
	mSinkGaveUp     = Instrument{"vigil.sink.given_up", "vigil_sink_given_up_total", Counter, "{alert}", []string{"sink"}, "Alerts a sink gave up on (to the dead-letter file)."}
	mWebhookRequest = Instrument{"vigil.webhook.request.duration", "vigil_webhook_request_duration_seconds", Histogram, "s", []string{"outcome"}, "Time of one POST to the webhook, by outcome (ok: a 2xx; error)."}
	mDeadLetters    = Instrument{"vigil.dead_letters", "vigil_dead_letters_total", Counter, "{record}", []string{"sink", "reason"}, "Records written to a dead-letter sink (file or topic), by reason."}
	mDeadLetterErrs = Instrument{"vigil.dead_letter.errors", "vigil_dead_letter_errors_total", Counter, "{write}", []string{"sink"}, "Failed writes to a dead-letter sink."}
	mKafkaLag       = Instrument{"vigil.kafka.consumer.lag", "vigil_kafka_consumer_lag", Gauge, "{message}", []string{"topic", "partition"}, "Messages in an assigned partition past the last one fetched."}
	mKafkaFetched   = Instrument{"vigil.kafka.fetched", "vigil_kafka_fetched_total", Counter, "{message}", []string{"topic"}, "Messages fetched."}
	mKafkaAssigned  = Instrument{"vigil.kafka.assigned_partitions", "vigil_kafka_assigned_partitions", Gauge, "{partition}", []string{"topic"}, "Partitions assigned to this instance."}
	mKafkaRebalance = Instrument{"vigil.kafka.rebalances", "vigil_kafka_rebalances_total", Counter, "{rebalance}", []string{"topic"}, "Consumer-group generations joined."}
	mKafkaCommitErr = Instrument{"vigil.kafka.commit.errors", "vigil_kafka_commit_errors_total", Counter, "{error}", []string{"topic"}, "Failed offset commits."}
	mReloads        = Instrument{"vigil.rule.reloads", "vigil_rule_reloads_total", Counter, "{reload}", []string{"result"}, "Ruleset changes, by result: ok (applied; the start-up load included) or error (refused: the running rules stay)."}
	mReloadLast     = Instrument{"vigil.rule.reload.last_success_timestamp", "vigil_rule_reload_last_success_timestamp_seconds", Gauge, "s", nil, "Unix time the running ruleset was applied."}
	mReloadFailing  = Instrument{"vigil.rule.reload.failing", "vigil_rule_reload_failing", Gauge, "", nil, "1 while the last reload was refused, 0 after a success."}
	mStoreRows      = Instrument{"vigil.event_store.rows", "vigil_event_store_rows_total", Counter, "{event}", []string{"store"}, "Events written to an event store (ClickHouse)."}
	mStoreQueue     = Instrument{"vigil.event_store.queue", "vigil_event_store_queue", Gauge, "{event}", []string{"store"}, "Events an event store holds, not yet written (at its bound, intake waits)."}
	mStoreFailing   = Instrument{"vigil.event_store.failing", "vigil_event_store_failing", Gauge, "", []string{"store"}, "1 while an event store's writes fail (it retries), 0 otherwise."}
	mCheckpointDur  = Instrument{"vigil.checkpoint.duration", "vigil_checkpoint_duration_seconds", Histogram, "s", nil, "Time to write one checkpoint."}
	mCheckpointSize = Instrument{"vigil.checkpoint.size", "vigil_checkpoint_size_bytes", Gauge, "By", nil, "Size of the last checkpoint."}
	mCheckpointAge  = Instrument{"vigil.checkpoint.age", "vigil_checkpoint_age_seconds", Gauge, "s", nil, "Time since the last checkpoint was written."}
)

// Catalog lists every instrument, in the order of docs/operations.md.
var Catalog = []Instrument{
	mEvents, mProcessed, mBuffered, mWatermarkLag, mInputIdle,
	mAlerts, mRuleEval, mRuleErrors, mKeyFailures, mKeys, mPartial, mEvictions, mExpired, mRules, mRulesetVersion,
	mQueue, mDelivery, mSinkWrite, mSinkAlerts, mSinkFailures, mSinkQueue, mSinkRetries, mSinkGaveUp, mWebhookRequest,
	mDeadLetters, mDeadLetterErrs,
	mKafkaLag, mKafkaFetched, mKafkaAssigned, mKafkaRebalance, mKafkaCommitErr,
	mStoreRows, mStoreQueue, mStoreFailing,
	mReloads, mReloadLast, mReloadFailing, mCheckpointDur, mCheckpointSize, mCheckpointAge,
}
