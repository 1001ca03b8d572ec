package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilhq/vigil/event"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("kafka source closed")

// Defaults of KafkaConfig.
const (
	DefaultMaxBatch       = 500
	DefaultCommitInterval = time.Second
	DefaultFetchMaxWait   = 500 * time.Millisecond
	DefaultFetchMaxBytes  = 10 << 20
)

// KafkaConfig configures a Kafka source. Brokers, Topic, GroupID and
// DeadLetterTopic are required; every other field has a default.
type KafkaConfig struct {
	Brokers []string
	Topic   string
	GroupID string

	// Decoder turns record values into events: time field, id field, size
	// limits, processing time. With ProcessingTime and no Decoder.Now, the
	// arrival time is read from Now.
	Decoder event.Decoder

	// DeadLetterTopic receives the records that cannot be decoded, and those
	// passed to DeadLetter. It must exist and differ from Topic.
	DeadLetterTopic string

	// OnAssign is told, at every generation the member joins, of the
	// partitions it starts tracking (possibly none), before any of their
	// records is read; OnRevoke of those it stops tracking (they
	// moved to another member, or their committed offset moved while they
	// were away, in which case OnAssign follows at once). A partition
	// assigned again in a new generation, with this member's own committed
	// offset, is neither: its tracking goes on. Both are called from the
	// consumer group's goroutine, without any of the source's locks held.
	// Event time, watermarks and idleness are the engine's business: the
	// source only says which partitions it owns.
	OnAssign func(partitions []int)
	OnRevoke func(partitions []int)

	// MaxBatch is the most records one Read returns (default 500).
	MaxBatch int
	// CommitInterval is how often the offsets of done records are committed
	// (default 1s). Close, and the end of every consumer group generation,
	// commit too.
	CommitInterval time.Duration

	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now; drives processing time

	// Dialer opens connections (TLS, SASL, client id); nil uses kafka-go's
	// default dialer.
	Dialer *kafka.Dialer
	// StartOffset is where a partition without a committed offset starts:
	// kafka.FirstOffset (the default) or kafka.LastOffset.
	StartOffset int64
	// WatchPartitionChanges makes the group rebalance when the topic gains
	// partitions, so that they are consumed without a restart.
	WatchPartitionChanges bool
	// Consumer group timing; zero values take kafka-go's defaults (3s, 30s,
	// 30s, 5s).
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration
	// FetchMaxWait bounds how long one fetch waits for data (default 500ms).
	// It also bounds how long a rebalance or Close waits for a fetch in
	// flight, since kafka-go cannot interrupt one.
	FetchMaxWait time.Duration
	// FetchMaxBytes is the most a fetch returns per partition (default 10
	// MiB); it must exceed the largest record, which may be larger than
	// Decoder.MaxSize so that it can be dead-lettered.
	FetchMaxBytes int
}

// withDefaults validates c and returns it with the defaults filled in.
func (c KafkaConfig) withDefaults() (KafkaConfig, error) {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	if c.GroupID == "" {
		errs = append(errs, errors.New("no consumer group id"))
	}
	switch c.DeadLetterTopic {
	case "":
		errs = append(errs, errors.New("no dead-letter topic"))
	case c.Topic:
		errs = append(errs, fmt.Errorf("dead-letter topic %q is the input topic", c.Topic))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"commit interval", c.CommitInterval}, {"heartbeat interval", c.HeartbeatInterval},
		{"session timeout", c.SessionTimeout}, {"rebalance timeout", c.RebalanceTimeout},
		{"join group backoff", c.JoinGroupBackoff}, {"fetch max wait", c.FetchMaxWait},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("negative %s %v", d.name, d.v))
		}
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("negative max batch %d", c.MaxBatch))
	}
	if c.FetchMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("negative fetch max bytes %d", c.FetchMaxBytes))
	}
	switch c.StartOffset {
	case 0:
		c.StartOffset = kafka.FirstOffset
	case kafka.FirstOffset, kafka.LastOffset:
	default:
		errs = append(errs, fmt.Errorf("start offset %d is neither kafka.FirstOffset nor kafka.LastOffset", c.StartOffset))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("kafka source: %w", err)
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Decoder.Now == nil {
		c.Decoder.Now = c.Now
	}
	return c, nil
}

// Record is one Kafka record decoded into an event.
type Record struct {
	// Event's ID is the event's id field, else "topic/partition/offset".
	Event     *event.Event
	Raw       []byte // the record's value
	Key       []byte // the record's key
	Topic     string
	Partition int
	Offset    int64

	// epoch names the tracking of the partition this record was fetched
	// under; Done ignores records of an epoch that has ended.
	epoch uint64
}

// Kafka is a Kafka source: a consumer group member that reads one topic.
//
// Read hands out decoded records; records that do not decode go to the
// dead-letter topic instead. While that topic cannot be written, good
// records go on flowing and the bad ones wait in memory (their offsets
// are not committed past them), retried with backoff; once a batch of
// them waits, Read holds everything back until the topic takes them. Done reports a record finished; offsets are
// committed per partition only up to the lowest unfinished record, so a
// crash re-delivers everything not done (at-least-once).
//
// Rebalances: kafka-go's consumer group rebalances eagerly: every
// generation revokes all partitions and assigns them anew. At the end of a
// generation the source commits the done offsets (still allowed while the
// group prepares the rebalance) and stops fetching. In the next generation:
//   - a partition assigned again, with the committed offset the source last
//     wrote, keeps its tracking: records already handed out are not handed
//     out again, and their Done still counts;
//   - a partition that moved away is forgotten: its records still in flight
//     may finish, but their Done is ignored and their offsets are not
//     committed by this member. The new owner resumes at the last commit
//     and re-delivers them (at-least-once; deterministic alert ids make the
//     duplicates harmless). OnRevoke tells the caller;
//   - a partition whose committed offset was moved by someone else (it was
//     owned by another member meanwhile) starts afresh, like a new one.
//
// Between generations nothing is committed; Close during a rebalance
// therefore commits nothing, and the next owner re-delivers from the last
// commit.
//
// Read is meant for one goroutine; Done, DeadLetter, Queued and Stats may be
// called from any goroutine.
type Kafka struct {
	cfg       KafkaConfig
	log       *slog.Logger
	group     *kafka.ConsumerGroup
	writer    *kafka.Writer
	transport *kafka.Transport

	msgs      chan fetchedMessage // from the partition fetchers to Read
	cancelRun context.CancelFunc
	runDone   chan struct{}  // closed when the group loop has exited
	workers   sync.WaitGroup // the generations' fetchers and committers
	closing   chan struct{}  // closed when Close starts
	closed    chan struct{}  // closed when Close has finished
	closeOnce sync.Once
	closeErr  error

	// readMu serialises Read and guards deadLetters: the records Read
	// could not decode and has not yet written to the dead-letter topic,
	// and the backoff after failing to.
	readMu      sync.Mutex
	deadLetters []deadLetter
	dlqFailures int
	dlqRetryAt  time.Time

	commitMu sync.Mutex // serialises commits

	mu         sync.Mutex
	parts      map[int]*partition // partitions of the current (or last) generation
	epochs     uint64
	generation int32
	rebalances int64
	fetched    int64
	duplicates int64
	dlq        map[string]int64 // dead-lettered records by reason
	undecoded  map[string]int64 // records that did not decode, by reason
	dlqPending int              // len(deadLetters), readable without readMu
	dlqErr     error            // the last dead-letter write failure while some wait
	commitErrs int64
	finalErr   error // the commit at the end of the last generation
	noFinal    bool  // skip that commit (tests simulating a crash)
}

// partition is the state of one assigned partition.
type partition struct {
	epoch     uint64
	tracker   *offsetTracker
	committed int64 // offset last committed for the group; -1 none known
	nextFetch int64 // offset after the last one queued for Read; -1 none
	queued    int   // fetched and queued, not yet taken by Read
	highWater int64 // high watermark at the last fetch; -1 unknown
	// from is the offset fetching started at, once known (-1 before): a
	// partition whose high watermark is beyond it is busy from the
	// start, before its first record arrives.
	from int64
}

type fetchedMessage struct {
	msg   kafka.Message
	epoch uint64
}

// NewKafka validates cfg and starts joining the consumer group in the
// background. Connection and group errors are logged and retried; they do
// not fail NewKafka.
func NewKafka(cfg KafkaConfig) (*Kafka, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("source", "kafka", "topic", cfg.Topic, "group", cfg.GroupID)
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    cfg.GroupID,
		Brokers:               cfg.Brokers,
		Dialer:                cfg.Dialer,
		Topics:                []string{cfg.Topic},
		HeartbeatInterval:     cfg.HeartbeatInterval,
		SessionTimeout:        cfg.SessionTimeout,
		RebalanceTimeout:      cfg.RebalanceTimeout,
		JoinGroupBackoff:      cfg.JoinGroupBackoff,
		StartOffset:           cfg.StartOffset,
		WatchPartitionChanges: cfg.WatchPartitionChanges,
		Logger:                kafkaLogger(log, slog.LevelDebug),
		ErrorLogger:           kafkaLogger(log, slog.LevelWarn),
	})
	if err != nil {
		return nil, fmt.Errorf("kafka source: %w", err)
	}
	transport := &kafka.Transport{}
	if d := cfg.Dialer; d != nil {
		transport.TLS, transport.SASL, transport.ClientID = d.TLS, d.SASLMechanism, d.ClientID
		transport.DialTimeout = d.Timeout
	}
	k := &Kafka{
		cfg:   cfg,
		log:   log,
		group: group,
		writer: &kafka.Writer{
			Addr:         kafka.TCP(cfg.Brokers...),
			Topic:        cfg.DeadLetterTopic,
			RequiredAcks: kafka.RequireAll,     // the default is RequireNone
			BatchTimeout: 5 * time.Millisecond, // writes are synchronous; the default waits 1s
			BatchSize:    cfg.MaxBatch,
			Transport:    transport,
			Logger:       kafkaLogger(log, slog.LevelDebug),
			ErrorLogger:  kafkaLogger(log, slog.LevelWarn),
		},
		transport: transport,
		msgs:      make(chan fetchedMessage, cfg.MaxBatch),
		runDone:   make(chan struct{}),
		closing:   make(chan struct{}),
		closed:    make(chan struct{}),
		parts:     make(map[int]*partition),
		dlq:       make(map[string]int64),
		undecoded: make(map[string]int64),
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancelRun = cancel
	go k.run(ctx)
	return k, nil
}

// Read blocks until at least one record is available, or ctx ends, and
// returns up to MaxBatch records already fetched, without waiting for more.
// Records that do not decode are not returned: Read writes them to the
// dead-letter topic with their reason and marks them done. If that write
// fails, they are retried by the next Read, which returns the error while
// it persists (backpressure: their offsets cannot be committed before).
// After Close, Read returns ErrClosed.
func (k *Kafka) Read(ctx context.Context) ([]Record, error) {
	k.readMu.Lock()
	defer k.readMu.Unlock()
	select {
	case <-k.closing:
		return nil, ErrClosed
	default:
	}
	// Records that could not be parked yet wait in memory; past a batch of
	// them, everything is held back until the dead-letter topic takes
	// them. Below that, good records go on flowing meanwhile.
	if len(k.deadLetters) >= k.cfg.MaxBatch {
		if err := k.flushDeadLetters(ctx, true); err != nil {
			return nil, err
		}
	}
	for {
		var f fetchedMessage
		var retry <-chan time.Time
		var timer *time.Timer
		if len(k.deadLetters) > 0 {
			// Retry the dead letters when their backoff ends, also
			// while no new record comes.
			timer = time.NewTimer(max(time.Until(k.dlqRetryAt), 0))
			retry = timer.C
		}
		select {
		case f = <-k.msgs:
		case <-retry:
			if err := k.flushDeadLetters(ctx, false); err != nil {
				return nil, err // the caller reports the outage and reads again
			}
			continue
		case <-ctx.Done():
			stopTimer(timer)
			return nil, ctx.Err()
		case <-k.closing:
			stopTimer(timer)
			return nil, ErrClosed
		}
		stopTimer(timer)
		recs := k.take(f, nil)
	drain:
		for taken := 1; taken < k.cfg.MaxBatch; taken++ {
			select {
			case f = <-k.msgs:
				recs = k.take(f, recs)
			default:
				break drain
			}
		}
		if err := k.flushDeadLetters(ctx, false); err != nil {
			if len(recs) == 0 {
				return nil, err
			}
			// The good records go out; the next Read retries the
			// dead letters and reports the error if it persists.
			k.log.Warn("dead-letter write failed, will retry", "err", err)
		}
		if len(recs) > 0 {
			return recs, nil
		}
	}
}

// take accounts for one fetched message and appends it to recs when it
// decodes; otherwise it queues it for the dead-letter topic. Messages of a
// partition no longer assigned, and re-deliveries, are dropped.
func (k *Kafka) take(f fetchedMessage, recs []Record) []Record {
	m := f.msg
	k.mu.Lock()
	st := k.parts[m.Partition]
	if st == nil || st.epoch != f.epoch {
		k.mu.Unlock()
		return recs
	}
	st.queued--
	st.highWater = m.HighWaterMark
	if !st.tracker.fetched(m.Offset) {
		k.duplicates++
		k.mu.Unlock()
		return recs
	}
	k.fetched++
	k.mu.Unlock()

	r := Record{Raw: m.Value, Key: m.Key, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, epoch: f.epoch}
	ev, err := k.cfg.Decoder.Decode(m.Value, position(m.Topic, m.Partition, m.Offset))
	if err != nil {
		k.deadLetters = append(k.deadLetters, deadLetter{rec: r, reason: event.ReasonOf(err), cause: err})
		k.mu.Lock()
		k.undecoded[event.ReasonOf(err)]++
		k.dlqPending = len(k.deadLetters)
		k.mu.Unlock()
		return recs
	}
	r.Event = ev
	return append(recs, r)
}

// position is the id of an event without one: "topic/partition/offset".
func position(topic string, partition int, offset int64) string {
	return topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// Done reports that r is processed and its results durably written: its
// offset may be committed once every record before it in its partition is
// done too. Done may be called in any order, more than once, and for
// records of partitions this member no longer owns (then it does nothing).
func (k *Kafka) Done(r Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st := k.parts[r.Partition]; st != nil && st.epoch == r.epoch {
		st.tracker.done(r.Offset)
	}
}

// DoneThrough reports r and every record before it in its partition
// done: a service that checkpoints its state commits what a checkpoint
// covers, whatever the order the records finished in. Records of a
// partition this member no longer tracks under r's epoch are ignored.
func (k *Kafka) DoneThrough(r Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st := k.parts[r.Partition]; st != nil && st.epoch == r.epoch {
		st.tracker.doneThrough(r.Offset)
	}
}

// Queued returns the number of records of a partition fetched and not
// yet handed out by Read.
func (k *Kafka) Queued(partition int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st := k.parts[partition]; st != nil {
		return st.queued
	}
	return 0
}

// Busy reports whether the source holds or knows of records of a
// partition not yet handed out: some are queued for Read, or the last
// fetch saw the partition's high watermark beyond them. A busy partition
// is not idle, whatever the time since its last event: its records are on
// their way. (A fetch that stalls — the broker unreachable — is not seen
// here: kafka-go retries it out of sight, and reports harmless timeouts of
// empty fetches the same way.)
func (k *Kafka) Busy(partition int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.parts[partition]
	if st == nil {
		return false
	}
	next := st.tracker.last + 1
	if st.tracker.last < 0 {
		if st.from < 0 {
			return st.queued > 0
		}
		next = st.from
	}
	return st.queued > 0 || (st.highWater >= 0 && st.highWater > next)
}

// KafkaStats is a snapshot of a Kafka source's counters.
type KafkaStats struct {
	Generation int32 // consumer group generation of the latest assignment
	Rebalances int64 // generations joined
	Fetched    int64 // records handed out or dead-lettered by Read
	Duplicates int64 // re-deliveries of records already handed out, skipped
	// DeadLettered counts the records written to the dead-letter topic, by
	// reason; DeadLetterPending those still waiting to be written.
	DeadLettered map[string]int64
	// Undecoded counts the records that did not decode into events, by
	// reason (they go to the dead-letter topic).
	Undecoded         map[string]int64
	DeadLetterPending int
	CommitErrors      int64
	// Partitions holds the partitions assigned in the latest generation.
	Partitions map[int]KafkaPartitionStats
}

// KafkaPartitionStats describes one assigned partition.
type KafkaPartitionStats struct {
	Fetched   int64 // highest offset handed out; -1 none
	Pending   int   // handed out, not yet done
	Committed int64 // the group's committed offset as last known (the next to read); -1 none
	Lag       int64 // high watermark minus the next offset to read, at the last fetch; -1 unknown
	Queued    int   // fetched, not yet handed out by Read
}

// Stats returns a snapshot of the source's counters.
func (k *Kafka) Stats() KafkaStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := KafkaStats{
		Generation:        k.generation,
		Rebalances:        k.rebalances,
		Fetched:           k.fetched,
		Duplicates:        k.duplicates,
		DeadLettered:      make(map[string]int64, len(k.dlq)),
		Undecoded:         make(map[string]int64, len(k.undecoded)),
		DeadLetterPending: k.dlqPending,
		CommitErrors:      k.commitErrs,
		Partitions:        make(map[int]KafkaPartitionStats, len(k.parts)),
	}
	for reason, n := range k.dlq {
		s.DeadLettered[reason] = n
	}
	for reason, n := range k.undecoded {
		s.Undecoded[reason] = n
	}
	for p, st := range k.parts {
		ps := KafkaPartitionStats{
			Fetched:   st.tracker.last,
			Pending:   st.tracker.pending(),
			Committed: st.committed,
			Lag:       -1,
			Queued:    st.queued,
		}
		if st.highWater >= 0 && st.tracker.last >= 0 {
			ps.Lag = max(st.highWater-(st.tracker.last+1), 0)
		}
		s.Partitions[p] = ps
	}
	return s
}

// Close commits the offsets of every done record, leaves the consumer
// group and closes the connections. Records handed out but not done are
// delivered again to the next owner of their partition. Close is
// idempotent; when ctx ends first it returns ctx's error and the shutdown
// completes in the background, bounded by kafka-go's network timeouts.
func (k *Kafka) Close(ctx context.Context) error {
	k.closeOnce.Do(func() {
		close(k.closing)
		go k.shutdown()
	})
	select {
	case <-k.closed:
		return k.closeErr
	case <-ctx.Done():
		return fmt.Errorf("kafka source: close: %w", ctx.Err())
	}
}

func (k *Kafka) shutdown() {
	defer close(k.closed)
	// Closing the group ends the generation: the fetchers stop, the
	// generation's committer makes the final commit, and the member leaves
	// the group so that the partitions move on without waiting for the
	// session timeout.
	_ = k.group.Close() // always nil
	k.cancelRun()
	<-k.runDone
	k.workers.Wait()
	werr := k.writer.Close()
	k.transport.CloseIdleConnections()
	k.mu.Lock()
	cerr := k.finalErr
	k.mu.Unlock()
	if cerr != nil {
		cerr = fmt.Errorf("kafka source: final commit: %w", cerr)
	}
	if werr != nil {
		werr = fmt.Errorf("kafka source: dead-letter writer: %w", werr)
	}
	k.closeErr = errors.Join(cerr, werr)
}

// abort closes the source like a crash would: without the final commit.
func (k *Kafka) abort() {
	k.mu.Lock()
	k.noFinal = true
	k.mu.Unlock()
	_ = k.Close(context.Background())
}

// kafkaLogger adapts slog to kafka-go's printf-style loggers. Errors that
// only report a cancellation (every shutdown and rebalance has them) are
// logged at debug level.
func kafkaLogger(l *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		ctx := context.Background()
		msg := fmt.Sprintf(format, args...)
		lvl := level
		if strings.Contains(msg, context.Canceled.Error()) {
			lvl = slog.LevelDebug
		}
		if l.Enabled(ctx, lvl) {
			l.Log(ctx, lvl, "kafka-go: "+msg)
		}
	})
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// DeadLetterErr returns the last failure to write the dead-letter topic
// while records still wait for it (nil once they are all parked): a
// service reports it as not ready.
func (k *Kafka) DeadLetterErr() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dlqErr
}
