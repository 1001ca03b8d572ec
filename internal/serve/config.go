package serve

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/internal/api"
	"github.com/vigilhq/vigil/internal/yamlfile"
	"github.com/vigilhq/vigil/rules"
)

// Config is vigil.yaml. Every field has a default, so `vigil serve` runs
// with no file at all; see examples/vigil.yaml for a documented one.
type Config struct {
	// Rules are rules files or directories (default ./rules); in a config
	// file, relative to the file's directory.
	Rules []string `yaml:"rules"`
	// RulesWatch re-applies the rules files when they change on disk
	// (debounced), as SIGHUP and POST /v1/rules/reload do.
	RulesWatch bool `yaml:"rules_watch"`
	// AllowEmptyRules lets the service start with no rule at all (rules
	// pushed later); otherwise zero rules is an error, since it is nearly
	// always a wrong path.
	AllowEmptyRules bool `yaml:"allow_empty_rules"`
	// DataDir holds the embedded alert store and the dead-letter file
	// (default ./data).
	DataDir string `yaml:"data_dir"`

	Time   TimeConfig   `yaml:"time"`
	Limits LimitsConfig `yaml:"limits"`
	HTTP   HTTPConfig   `yaml:"http"`
	Kafka  *KafkaSource `yaml:"kafka"`
	Sinks  SinksConfig  `yaml:"sinks"`
	Store  StoreConfig  `yaml:"store"`
	// Checkpoint saves the engine's state with the Kafka offsets it
	// covers, so a restart or a crash loses no partial match.
	Checkpoint CheckpointConfig `yaml:"checkpoint"`
	Logging    LoggingConfig    `yaml:"logging"`
	Auth       AuthConfig       `yaml:"auth"`
	Telemetry  TelemetryConfig  `yaml:"telemetry"`
	// ClickHouse, when set, receives events and alerts and answers alert
	// history (see clickhouse.go).
	ClickHouse *ClickHouseConfig `yaml:"clickhouse"`
}

// TelemetryConfig sets tracing; metrics are always at GET /metrics.
type TelemetryConfig struct {
	// OTLPEndpoint, when set, sends traces over OTLP/HTTP to this URL
	// (http://collector:4318): a span per ingested batch and per sink
	// write, and alerts carry their batch's trace id. Off by default.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
}

// AuthConfig guards the API with bearer tokens.
type AuthConfig struct {
	Tokens []TokenConfig `yaml:"tokens"`
}

// TokenConfig is one API token: only its SHA-256 is configured.
type TokenConfig struct {
	Name   string `yaml:"name"`   // recorded as the actor of the changes it makes
	Scope  string `yaml:"scope"`  // admin | read | ingest
	SHA256 string `yaml:"sha256"` // hex SHA-256 of the token (printf %s TOKEN | sha256sum)
}

// TimeConfig says how events are timed and how time moves.
type TimeConfig struct {
	Field   string `yaml:"field"`    // default ts
	IDField string `yaml:"id_field"` // default id
	// Unit of integer times: ms (default; integers before 1980 are
	// rejected as probable seconds) or s (Unix seconds).
	Unit           string   `yaml:"unit"`
	Processing     bool     `yaml:"processing"`       // use arrival time instead of the time field
	OutOfOrderness Duration `yaml:"out_of_orderness"` // default 5s
	IdleTimeout    Duration `yaml:"idle_timeout"`     // default 5s: a source or partition silent this long leaves the watermark minimum
	// AdvanceWhenIdle moves the watermark with the wall clock (now −
	// out_of_orderness) when every source is idle, so absences and
	// tumbling windows fire without new traffic (default true).
	AdvanceWhenIdle bool `yaml:"advance_when_idle"`
}

// LimitsConfig bounds memory and work.
type LimitsConfig struct {
	MaxEventSize        int `yaml:"max_event_size"`         // bytes, default 1 MiB
	MaxEventDepth       int `yaml:"max_event_depth"`        // nesting levels of objects and arrays, default 32
	MaxBodySize         int `yaml:"max_body_size"`          // bytes of one POST /v1/events, default 16 MiB
	MaxEventsPerRequest int `yaml:"max_events_per_request"` // items in one POST /v1/events, default 10000
	MaxListSize         int `yaml:"max_list_size"`          // bytes of one PUT /v1/lists body, default 256 MiB
	MaxPartialMatches   int `yaml:"max_partial_matches"`    // per key and sequence rule, default 10000
	Workers             int `yaml:"workers"`                // engine workers, default: every core
	// MaxBufferedEvents bounds the events waiting for the watermark
	// (default 1048576); beyond it HTTP answers 503 and Kafka waits.
	MaxBufferedEvents int `yaml:"max_buffered_events"`
	// AlertQueue bounds the alerts waiting for the sinks (default 10000);
	// beyond it HTTP answers 503 and Kafka waits (backpressure).
	AlertQueue int `yaml:"alert_queue"`
	// IngestWait is how long a POST /v1/events waits for room in a full
	// engine before it is answered 503 (default 5s).
	IngestWait Duration `yaml:"ingest_wait"`
	// StateTTL is how long, in event time since a key's last event, a key
	// keeps state nothing else bounds: the partial matches of a sequence
	// rule without within, an emit: first rule's true result after its
	// window emptied (default 24h; 0 keeps it forever).
	StateTTL Duration `yaml:"state_ttl"`
}

// HTTPConfig is the API listener.
type HTTPConfig struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8080
	// TLS serves HTTPS with this certificate and key (PEM files).
	TLS *TLSConfig `yaml:"tls"`
}

// TLSConfig names a certificate and its key.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// KafkaSource reads events from a topic.
type KafkaSource struct {
	Brokers         []string `yaml:"brokers"`
	Topic           string   `yaml:"topic"`
	GroupID         string   `yaml:"group_id"`          // default vigil
	DeadLetterTopic string   `yaml:"dead_letter_topic"` // default <topic>.dead-letter
	// Key is the expression the message key equals (say card_id): rules
	// keyed by exactly this expression keep their state in each partition
	// and run in that partition's own event time. "" (default): every rule
	// is served through the exchange.
	Key string `yaml:"key"`
	// StartOffset is where a partition without a committed offset starts:
	// first (default) or last.
	StartOffset string `yaml:"start_offset"`
	// CommitInterval is how often the offsets of processed events are
	// committed (default 1s); shutdown commits too.
	CommitInterval Duration `yaml:"commit_interval"`
	// Consumer-group timing; defaults are kafka-go's (3s, 30s, 30s, 5s).
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	SessionTimeout    Duration `yaml:"session_timeout"`
	RebalanceTimeout  Duration `yaml:"rebalance_timeout"`
	JoinGroupBackoff  Duration `yaml:"join_group_backoff"`
	FetchMaxWait      Duration `yaml:"fetch_max_wait"` // default 500ms
}

// SinksConfig says where alerts go besides the store.
type SinksConfig struct {
	Stdout  bool           `yaml:"stdout"` // default true
	File    string         `yaml:"file"`   // NDJSON file, optional
	Webhook *WebhookSink   `yaml:"webhook"`
	Kafka   *KafkaAlertOut `yaml:"kafka"`
}

// WebhookSink POSTs each alert.
type WebhookSink struct {
	URL       string            `yaml:"url"`
	Headers   map[string]string `yaml:"headers"`
	QueueSize int               `yaml:"queue_size"` // default 1000; a full queue blocks the engine (backpressure)
	Timeout   Duration          `yaml:"timeout"`    // per request, default 10s
	// Retries back off exponentially with full jitter between these bounds
	// (defaults 100ms and 30s), forever.
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
}

// KafkaAlertOut writes alerts to a topic, key = alert key.
type KafkaAlertOut struct {
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
}

// StoreConfig is the embedded alert store.
type StoreConfig struct {
	Path      string   `yaml:"path"`      // default <data_dir>/alerts.db
	Retention Duration `yaml:"retention"` // default 30d; 0 keeps alerts forever
}

// CheckpointConfig says when and where state is checkpointed.
type CheckpointConfig struct {
	Interval Duration `yaml:"interval"` // default 10s; 0 turns checkpoints off
	Dir      string   `yaml:"dir"`      // default <data_dir>/checkpoints
	Keep     int      `yaml:"keep"`     // checkpoints kept, default 2 (the previous is the fallback)
}

// LoggingConfig sets the structured log.
type LoggingConfig struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // auto (default: text on a terminal, JSON otherwise) | text | json
}

// Duration is a YAML duration in vigil's units (500ms, 5s, 10m, 1h, 30d).
type Duration time.Duration

// UnmarshalYAML reads a vigil duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	ms, err := rules.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// LoadConfig reads a config file; path "" gives the defaults. Settings
// the file leaves out keep their defaults; settings it gives, zeros
// included, are kept as given.
func LoadConfig(path string) (*Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		// A misspelt setting must not be silently ignored: every error is
		// positioned, with a "did you mean".
		if err := yamlfile.Decode(path, data, cfg); err != nil {
			return nil, err
		}
		// Rules named by a config file are where the file says, wherever
		// vigil runs from (as Prometheus reads rule_files).
		for i, r := range cfg.Rules {
			if !filepath.IsAbs(r) {
				cfg.Rules[i] = filepath.Join(filepath.Dir(path), r)
			}
		}
	}
	cfg.derive()
	return cfg, cfg.validate()
}

// Default returns the configuration `vigil serve` runs with when given no
// file.
func Default() *Config {
	return &Config{
		Rules:   []string{"./rules"},
		DataDir: "./data",
		Time: TimeConfig{
			Field: event.DefaultTimeField, IDField: event.DefaultIDField, Unit: event.UnitMillis,
			OutOfOrderness: Duration(5 * time.Second), IdleTimeout: Duration(5 * time.Second),
			AdvanceWhenIdle: true,
		},
		Limits: LimitsConfig{
			MaxEventSize: event.DefaultMaxSize, MaxEventDepth: event.DefaultMaxDepth, MaxBodySize: 16 << 20, MaxEventsPerRequest: 10000, MaxListSize: 256 << 20,
			MaxPartialMatches: 10000, Workers: runtime.GOMAXPROCS(0),
			MaxBufferedEvents: cep.DefaultMaxBuffered, AlertQueue: cep.DefaultAlertQueue,
			IngestWait: Duration(5 * time.Second), StateTTL: Duration(cep.DefaultStateTTL),
		},
		HTTP:       HTTPConfig{Listen: "127.0.0.1:8080"},
		Sinks:      SinksConfig{Stdout: true},
		Store:      StoreConfig{Retention: Duration(30 * 24 * time.Hour)},
		Checkpoint: CheckpointConfig{Interval: Duration(10 * time.Second), Keep: 2},
		Logging:    LoggingConfig{Level: "info", Format: "auto"},
	}
}

// derive fills the settings that follow from others.
func (c *Config) derive() {
	if c.Store.Path == "" {
		c.Store.Path = filepath.Join(c.DataDir, "alerts.db")
	}
	if c.Checkpoint.Dir == "" {
		c.Checkpoint.Dir = filepath.Join(c.DataDir, "checkpoints")
	}
	if c.Limits.Workers <= 0 {
		c.Limits.Workers = runtime.GOMAXPROCS(0)
	}
	if k := c.Kafka; k != nil {
		if k.GroupID == "" {
			k.GroupID = "vigil"
		}
		if k.DeadLetterTopic == "" {
			k.DeadLetterTopic = k.Topic + ".dead-letter"
		}
	}
}

func (c *Config) validate() error {
	if c.Time.Unit != event.UnitMillis && c.Time.Unit != event.UnitSeconds {
		return fmt.Errorf("time.unit: want ms or s, got %q", c.Time.Unit)
	}
	if k := c.Kafka; k != nil {
		if len(k.Brokers) == 0 || k.Topic == "" {
			return fmt.Errorf("kafka: brokers and topic are required")
		}
		if k.StartOffset != "" && k.StartOffset != "first" && k.StartOffset != "last" {
			return fmt.Errorf("kafka.start_offset: want first or last, got %q", k.StartOffset)
		}
	}
	if w := c.Sinks.Webhook; w != nil && w.URL == "" {
		return fmt.Errorf("sinks.webhook: url is required")
	}
	if k := c.Sinks.Kafka; k != nil && (len(k.Brokers) == 0 || k.Topic == "") {
		return fmt.Errorf("sinks.kafka: brokers and topic are required")
	}
	if c.Limits.MaxEventSize < 0 || c.Limits.MaxBodySize < c.Limits.MaxEventSize {
		return fmt.Errorf("limits: max_body_size must be at least max_event_size")
	}
	if c.Limits.MaxPartialMatches <= 0 || c.Limits.MaxEventsPerRequest <= 0 || c.Limits.MaxBufferedEvents <= 0 || c.Limits.AlertQueue <= 0 {
		return fmt.Errorf("limits: max_partial_matches, max_events_per_request, max_buffered_events and alert_queue must be positive: state and queues are always bounded")
	}
	if c.Limits.IngestWait < 0 || c.Limits.StateTTL < 0 {
		return fmt.Errorf("limits: ingest_wait and state_ttl must not be negative")
	}
	if c.Time.IdleTimeout <= 0 {
		return fmt.Errorf("time.idle_timeout must be positive")
	}
	if c.Time.OutOfOrderness < 0 {
		return fmt.Errorf("time.out_of_orderness must not be negative")
	}
	if c.Checkpoint.Interval < 0 || c.Checkpoint.Keep < 0 {
		return fmt.Errorf("checkpoint: interval and keep must not be negative")
	}
	if t := c.HTTP.TLS; t != nil && (t.Cert == "" || t.Key == "") {
		return fmt.Errorf("http.tls: cert and key are both required")
	}
	if _, err := c.APITokens(); err != nil {
		return err
	}
	if c.ClickHouse != nil {
		if err := c.ClickHouse.validate(); err != nil {
			return err
		}
	}
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("logging.level: unknown level %q", c.Logging.Level)
	}
	if ep := c.Telemetry.OTLPEndpoint; ep != "" {
		if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("telemetry.otlp_endpoint: want an http:// or https:// URL such as http://collector:4318, got %q", ep)
		}
	}
	switch c.Logging.Format {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("logging.format: want auto, text or json, got %q", c.Logging.Format)
	}
	return nil
}

// APITokens checks and converts the configured tokens.
func (c *Config) APITokens() ([]api.Token, error) {
	var out []api.Token
	names := map[string]bool{}
	for i, t := range c.Auth.Tokens {
		where := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			return nil, fmt.Errorf("%s: name is required (it is recorded as the actor of changes)", where)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%s: token name %q is used twice", where, t.Name)
		}
		names[t.Name] = true
		switch t.Scope {
		case api.ScopeAdmin, api.ScopeRead, api.ScopeIngest:
		default:
			return nil, fmt.Errorf("%s (%s): scope: want admin, read or ingest, got %q", where, t.Name, t.Scope)
		}
		h, err := api.ParseTokenHash(t.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): sha256: %w", where, t.Name, err)
		}
		out = append(out, api.Token{Name: t.Name, Scope: t.Scope, SHA256: h})
	}
	return out, nil
}
