package sources

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilhq/vigil/event"
)

func TestKafkaRead(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, eventsFor(3, 10, 0)...)

	cfg := c.config(t, "read")
	cfg.MaxBatch = 7
	k := open(t, cfg)
	recs := readN(t, k, 30)

	next := map[int]int64{}
	for _, r := range recs {
		p, i := r.Partition, int(r.Offset)
		if r.Offset != next[p] {
			t.Errorf("partition %d: offset %d, want %d (in order)", p, r.Offset, next[p])
		}
		next[p] = r.Offset + 1
		if r.Topic != topic {
			t.Errorf("%d/%d: topic %q", p, i, r.Topic)
		}
		if want := eventJSON(p, i); string(r.Raw) != want {
			t.Errorf("%d/%d: raw %s, want %s", p, i, r.Raw, want)
		}
		if want := fmt.Sprintf("card-%d", i%4); string(r.Key) != want {
			t.Errorf("%d/%d: key %q, want %q", p, i, r.Key, want)
		}
		if r.Event == nil {
			t.Fatalf("%d/%d: no event", p, i)
		}
		wantID := fmt.Sprintf("e-%d-%d", p, i)
		if i%2 == 1 {
			wantID = fmt.Sprintf("events/%d/%d", p, i)
		}
		if r.Event.ID != wantID {
			t.Errorf("%d/%d: id %q, want %q", p, i, r.Event.ID, wantID)
		}
		if r.Event.Time != eventTime(p, i) {
			t.Errorf("%d/%d: time %s, want %s", p, i, event.FormatTime(r.Event.Time), event.FormatTime(eventTime(p, i)))
		}
		if r.Event.Fields["amount"] != float64(i) {
			t.Errorf("%d/%d: fields %v", p, i, r.Event.Fields)
		}
		k.Done(r)
	}
	if want := map[int]int64{0: 10, 1: 10, 2: 10}; !reflect.DeepEqual(next, want) {
		t.Errorf("read up to %v, want %v", next, want)
	}
	expectNothing(t, k)

	// Everything done: the periodic commit reaches the end of each partition.
	waitFor(t, "commits", func() bool { return reflect.DeepEqual(c.commits("read"), map[int]int64{0: 10, 1: 10, 2: 10}) })
	s := k.Stats()
	if s.Fetched != 30 || len(s.DeadLettered) != 0 || s.Duplicates != 0 {
		t.Errorf("Stats = %+v", s)
	}
	for p, ps := range s.Partitions {
		if ps.Fetched != 9 || ps.Pending != 0 || ps.Committed != 10 || ps.Lag != 0 {
			t.Errorf("partition %d: %+v", p, ps)
		}
	}
}

// TestKafkaDeadLetter: input that does not decode goes to the dead-letter
// topic with its reason, is marked done, and neither blocks the partition
// nor holds back its commits.
func TestKafkaDeadLetter(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	big := `{"ts":1,"pad":"` + strings.Repeat("x", 300) + `"}`
	input := []msg{
		{0, "", eventJSON(0, 0)},
		{0, "k1", `not json`},
		{0, "", eventJSON(0, 2)},
		{0, "", `{"id":"no-time"}`},
		{0, "", big},
		{0, "", `{"ts":"yesterday"}`},
		{0, "", eventJSON(0, 6)},
		{1, "", `[1,2,3]`}, // a partition of bad input only
		{1, "", `{"ts":1,"id":true}`},
		{2, "", eventJSON(2, 0)},
	}
	c.produce(t, topic, input...)

	cfg := c.config(t, "dlq")
	cfg.Decoder = event.Decoder{MaxSize: 200}
	k := open(t, cfg)
	recs := readN(t, k, 4)
	if got, want := positions(recs), []string{"0/0", "0/2", "0/6", "2/0"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	for _, r := range recs {
		k.Done(r)
	}
	// Bad records are done as soon as they are dead-lettered: the commits
	// cover them, also on the partition that had nothing good.
	// Read is the pump that dead-letters: keep calling it, as a consumer
	// loop does, until the commits cover the bad records.
	pump(t, k, "commits over the bad records", func() bool {
		return reflect.DeepEqual(c.commits("dlq"), map[int]int64{0: 7, 1: 2, 2: 1})
	})

	wantReasons := map[string]int64{
		event.ReasonMalformed: 2, event.ReasonNoTime: 1, event.ReasonTooLarge: 1,
		event.ReasonBadTime: 1, event.ReasonBadID: 1,
	}
	if s := k.Stats(); !reflect.DeepEqual(s.DeadLettered, wantReasons) || s.Fetched != 10 || s.DeadLetterPending != 0 {
		t.Errorf("Stats = %+v; want dead-lettered %v", s, wantReasons)
	}

	got := map[string]dlqRecord{}
	for _, d := range c.readDLQ(t, 6) {
		got[d.headers[HeaderSourcePartition]+"/"+d.headers[HeaderSourceOffset]] = d
	}
	want := map[string]string{
		"0/1": event.ReasonMalformed, "0/3": event.ReasonNoTime, "0/4": event.ReasonTooLarge,
		"0/5": event.ReasonBadTime, "1/0": event.ReasonMalformed, "1/1": event.ReasonBadID,
	}
	for pos, reason := range want {
		d, ok := got[pos]
		if !ok {
			t.Errorf("%s: not in the dead-letter topic", pos)
			continue
		}
		var p, o int
		fmt.Sscanf(pos, "%d/%d", &p, &o)
		var raw string
		for _, m := range input {
			if m.partition == p {
				if o == 0 {
					raw = m.value
				}
				o--
			}
		}
		if string(d.value) != raw {
			t.Errorf("%s: value %q, want %q", pos, d.value, raw)
		}
		if d.headers[HeaderReason] != reason || d.headers[HeaderSourceTopic] != topic || d.headers[HeaderError] == "" {
			t.Errorf("%s: headers %v, want reason %q", pos, d.headers, reason)
		}
		if _, ok := d.headers[HeaderTruncated]; ok {
			t.Errorf("%s: truncated: %v", pos, d.headers)
		}
	}
}

// TestKafkaDeadLetterHuge: a record over Kafka's default message size is
// dead-lettered cut to DeadLetterMaxValue instead of stalling its
// partition on a write that can never succeed.
func TestKafkaDeadLetterHuge(t *testing.T) {
	t.Parallel()
	c := newCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "4000000"}))
	huge := `{"ts":1,"pad":"` + strings.Repeat("x", 1_500_000) + `"}`
	c.produce(t, topic, msg{0, "", huge}, msg{0, "", eventJSON(0, 1)})

	k := open(t, c.config(t, "huge")) // default decoder: 1 MiB
	recs := readN(t, k, 1)
	if recs[0].Offset != 1 {
		t.Fatalf("read offset %d, want 1", recs[0].Offset)
	}
	k.Done(recs[0])
	d := c.readDLQ(t, 1)[0]
	if len(d.value) != DeadLetterMaxValue || string(d.value) != huge[:DeadLetterMaxValue] {
		t.Errorf("dead-letter value of %d bytes, want the first %d", len(d.value), DeadLetterMaxValue)
	}
	if d.headers[HeaderTruncated] != fmt.Sprint(len(huge)) || d.headers[HeaderReason] != event.ReasonTooLarge {
		t.Errorf("headers %v", d.headers)
	}
	waitFor(t, "commit", func() bool { return c.commits("huge")[0] == 2 })
}

// TestKafkaDeadLetterByCaller: the engine dead-letters records it rejects
// (late events); they count as done.
func TestKafkaDeadLetterByCaller(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, eventsFor(1, 3, 0)...)
	k := open(t, c.config(t, "late"))
	recs := readN(t, k, 3)
	ctx := context.Background()
	if err := k.DeadLetter(ctx, recs[1], event.ReasonLate, errors.New("below the watermark")); err != nil {
		t.Fatal(err)
	}
	k.Done(recs[0])
	waitFor(t, "commit", func() bool { return c.commits("late")[0] == 2 })
	k.Done(recs[2])
	waitFor(t, "commit", func() bool { return c.commits("late")[0] == 3 })
	d := c.readDLQ(t, 1)[0]
	if d.headers[HeaderReason] != event.ReasonLate || d.headers[HeaderError] != "below the watermark" ||
		d.headers[HeaderSourceOffset] != "1" || string(d.value) != eventJSON(0, 1) {
		t.Errorf("dead letter %s %v", d.value, d.headers)
	}
	if s := k.Stats(); s.DeadLettered[event.ReasonLate] != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestKafkaCommitOutOfOrder: Done in any order commits only up to the
// lowest unfinished offset of each partition; the next consumer of the
// group resumes there and re-delivers everything after it, done or not.
func TestKafkaCommitOutOfOrder(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, eventsFor(3, 10, 0)...)

	cfg := c.config(t, "ooo")
	cfg.CommitInterval = time.Hour // only Close commits
	k := open(t, cfg)
	recs := readN(t, k, 30)
	undone := map[int][]int64{0: {3, 6, 8}, 1: {0}, 2: nil}
	rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	for _, r := range recs {
		if !containsOffset(undone[r.Partition], r.Offset) {
			k.Done(r)
			k.Done(r) // duplicates are harmless
		}
	}
	if err := k.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := c.commits("ooo"), map[int]int64{0: 3, 2: 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("committed %v, want %v", got, want)
	}

	k2 := open(t, cfg)
	again := readN(t, k2, 17)
	want := map[int][]int64{0: span(3, 10), 1: span(0, 10)}
	if got := offsetsByPartition(again); !reflect.DeepEqual(got, want) {
		t.Errorf("re-delivered %v, want %v", got, want)
	}
	expectNothing(t, k2)
}

func containsOffset(os []int64, o int64) bool {
	for _, x := range os {
		if x == o {
			return true
		}
	}
	return false
}

// TestKafkaCrash: a source that dies without its final commit loses
// nothing: the next consumer gets every record not committed.
func TestKafkaCrash(t *testing.T) {
	t.Parallel()
	t.Run("after periodic commits", func(t *testing.T) {
		t.Parallel()
		c := newCluster(t)
		c.produce(t, topic, eventsFor(3, 10, 0)...)
		cfg := c.config(t, "crash")
		k := open(t, cfg)
		recs := readN(t, k, 30)
		// Done all but the last three of each partition, newest first.
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Offset < 7 {
				k.Done(recs[i])
			}
		}
		waitFor(t, "periodic commits", func() bool {
			return reflect.DeepEqual(c.commits("crash"), map[int]int64{0: 7, 1: 7, 2: 7})
		})
		k.abort()

		k2 := open(t, cfg)
		again := readN(t, k2, 9)
		want := map[int][]int64{0: span(7, 10), 1: span(7, 10), 2: span(7, 10)}
		if got := offsetsByPartition(again); !reflect.DeepEqual(got, want) {
			t.Errorf("re-delivered %v, want exactly the records not done %v", got, want)
		}
		expectNothing(t, k2)
	})
	t.Run("before any commit", func(t *testing.T) {
		t.Parallel()
		c := newCluster(t)
		c.produce(t, topic, eventsFor(3, 10, 0)...)
		cfg := c.config(t, "crash")
		cfg.CommitInterval = time.Hour
		k := open(t, cfg)
		for _, r := range readN(t, k, 30) {
			k.Done(r)
		}
		k.abort()
		if got := c.commits("crash"); len(got) != 0 {
			t.Errorf("a crash committed %v", got)
		}
		k2 := open(t, cfg)
		readN(t, k2, 30)
		expectNothing(t, k2)
	})
}

// TestKafkaProcessingTime: in processing-time mode the arrival time, from
// the injected clock, is the event time.
func TestKafkaProcessingTime(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, msg{0, "", `{"id":"a"}`}, msg{0, "", `{"ts":"not a time"}`})
	clk := newClock()
	cfg := c.config(t, "proc")
	cfg.Now = clk.Now
	cfg.Decoder = event.Decoder{ProcessingTime: true}
	k := open(t, cfg)
	recs := readN(t, k, 2)
	for _, r := range recs {
		if r.Event.Time != base {
			t.Errorf("%d: time %d, want %d", r.Offset, r.Event.Time, int64(base))
		}
	}
	if recs[0].Event.ID != "a" || recs[1].Event.ID != "events/0/1" {
		t.Errorf("ids %q, %q", recs[0].Event.ID, recs[1].Event.ID)
	}
}

// TestKafkaRebalance: two members share the partitions; when one leaves,
// the other takes over. Nothing is lost, and records done before a
// rebalance are not delivered again.
func TestKafkaRebalance(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, eventsFor(3, 10, 0)...)
	cfg := c.config(t, "rb")
	ownedA, ownedB := &owned{}, &owned{}
	cfgA, cfgB := cfg, cfg
	cfgA.OnAssign, cfgA.OnRevoke = ownedA.assign, ownedA.revoke
	cfgB.OnAssign, cfgB.OnRevoke = ownedB.assign, ownedB.revoke

	a := open(t, cfgA)
	for _, r := range readN(t, a, 30) {
		a.Done(r)
	}
	waitFor(t, "a's commits", func() bool { return reflect.DeepEqual(c.commits("rb"), map[int]int64{0: 10, 1: 10, 2: 10}) })

	b := open(t, cfgB)
	waitFor(t, "partitions shared", func() bool {
		sa, sb := a.Stats(), b.Stats()
		return len(sa.Partitions) > 0 && len(sb.Partitions) > 0 &&
			len(sa.Partitions)+len(sb.Partitions) == 3 && sa.Generation == sb.Generation
	})
	// The hooks tell each member exactly what it owns.
	if ga, gb := ownedA.list(), ownedB.list(); !reflect.DeepEqual(ga, partitionsOf(a)) || !reflect.DeepEqual(gb, partitionsOf(b)) {
		t.Errorf("hooks say a owns %v and b %v; Stats says %v and %v", ga, gb, partitionsOf(a), partitionsOf(b))
	}

	c.produce(t, topic, eventsFor(3, 10, 10)...)
	var (
		mu   sync.Mutex
		seen []Record
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, k := range []*Kafka{a, b} {
		wg.Go(func() {
			for {
				recs, err := k.Read(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen = append(seen, recs...)
				if len(seen) >= 30 {
					cancel()
				}
				mu.Unlock()
				for _, r := range recs {
					k.Done(r)
				}
			}
		})
	}
	wg.Wait()
	want := map[int][]int64{0: span(10, 20), 1: span(10, 20), 2: span(10, 20)}
	if got := offsetsByPartition(seen); !reflect.DeepEqual(got, want) {
		t.Fatalf("second batch read as %v, want %v", got, want)
	}

	// a leaves; b takes over everything and resumes after a's commits.
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitAssigned(t, b, 3)
	if got := ownedB.list(); !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Errorf("after a left, b's hooks say it owns %v", got)
	}
	c.produce(t, topic, eventsFor(3, 5, 20)...)
	recs := readN(t, b, 15)
	want = map[int][]int64{0: span(20, 25), 1: span(20, 25), 2: span(20, 25)}
	if got := offsetsByPartition(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("after a left, b read %v, want %v", got, want)
	}
	for _, r := range recs {
		b.Done(r)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.commits("rb"); !reflect.DeepEqual(got, map[int]int64{0: 25, 1: 25, 2: 25}) {
		t.Errorf("committed %v", got)
	}
	if s := b.Stats(); s.Rebalances < 2 {
		t.Errorf("b saw %d generations", s.Rebalances)
	}
}

func TestKafkaClose(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, eventsFor(1, 2, 0)...)
	k := open(t, c.config(t, "close"))
	recs := readN(t, k, 2)
	k.Done(recs[0])
	ctx := context.Background()
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := c.commits("close"); got[0] != 1 {
		t.Errorf("committed %v, want partition 0 at 1", got)
	}
	if _, err := k.Read(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	k.Done(recs[1]) // no effect, no panic
	if err := k.DeadLetter(ctx, recs[1], event.ReasonLate, nil); err == nil {
		t.Error("DeadLetter after Close succeeded")
	}
}

// TestKafkaReadCancel: Read blocks until its context ends when there is
// nothing to read, and Close unblocks it.
func TestKafkaReadCancel(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	k := open(t, c.config(t, "cancel"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := k.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := k.Read(context.Background())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := k.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Read returned %v after Close", err)
	}
}

func TestNewKafkaConfig(t *testing.T) {
	ok := KafkaConfig{Brokers: []string{"localhost:9092"}, Topic: "t", GroupID: "g", DeadLetterTopic: "dlq"}
	tests := []struct {
		name   string
		change func(*KafkaConfig)
		errs   []string
	}{
		{"ok", func(*KafkaConfig) {}, nil},
		{"nothing", func(c *KafkaConfig) { *c = KafkaConfig{} }, []string{"no brokers", "no topic", "no consumer group id", "no dead-letter topic"}},
		{"dead letters to the input", func(c *KafkaConfig) { c.DeadLetterTopic = "t" }, []string{`dead-letter topic "t" is the input topic`}},
		{"negative durations", func(c *KafkaConfig) { c.CommitInterval, c.FetchMaxWait = -1, -1 }, []string{"negative commit interval", "negative fetch max wait"}},
		{"negative batch", func(c *KafkaConfig) { c.MaxBatch = -1 }, []string{"negative max batch"}},
		{"bad start offset", func(c *KafkaConfig) { c.StartOffset = 5 }, []string{"start offset 5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			got, err := cfg.withDefaults()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got.MaxBatch != DefaultMaxBatch || got.CommitInterval != DefaultCommitInterval || got.Now == nil ||
					got.Decoder.Now == nil || got.Logger == nil || got.FetchMaxWait != DefaultFetchMaxWait {
					t.Errorf("defaults not filled: %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, e := range tc.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not mention %q", err, e)
				}
			}
			if _, err := NewKafka(cfg); err == nil {
				t.Error("NewKafka accepted it")
			}
		})
	}
}

// TestKafkaRebalanceUnfinished: records handed out but not done when their
// partition moves to another member are delivered again by the new owner;
// the old owner's Done for them is ignored and commits nothing.
func TestKafkaRebalanceUnfinished(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, eventsFor(3, 10, 0)...)
	cfg := c.config(t, "rbu")

	a := open(t, cfg)
	held := readN(t, a, 30) // none done

	b := open(t, cfg)
	var moved []int
	waitFor(t, "partitions shared", func() bool {
		sa, sb := a.Stats(), b.Stats()
		moved = moved[:0]
		for p := range sb.Partitions {
			moved = append(moved, p)
		}
		return len(sa.Partitions) > 0 && len(sb.Partitions) > 0 &&
			len(sa.Partitions)+len(sb.Partitions) == 3 && sa.Generation == sb.Generation
	})
	// b starts where the group's commits are: the beginning.
	again := readN(t, b, 10*len(moved))
	want := map[int][]int64{}
	for _, p := range moved {
		want[p] = span(0, 10)
	}
	if got := offsetsByPartition(again); !reflect.DeepEqual(got, want) {
		t.Fatalf("b read %v, want %v", got, want)
	}
	for _, r := range again {
		b.Done(r)
	}

	// a's Done of the moved records changes nothing; its own partitions
	// are committed, and nothing is delivered to a again.
	for _, r := range held {
		a.Done(r)
	}
	waitFor(t, "all committed", func() bool {
		return reflect.DeepEqual(c.commits("rbu"), map[int]int64{0: 10, 1: 10, 2: 10})
	})
	for _, p := range moved {
		if _, ok := a.Stats().Partitions[p]; ok {
			t.Errorf("a still tracks partition %d", p)
		}
	}
	expectNothing(t, a)

	// b leaves: a takes its partitions over from b's commits.
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitAssigned(t, a, 3)
	expectNothing(t, a)
}

func TestPartitionContinuesAt(t *testing.T) {
	tests := []struct {
		ours, assigned int64
		want           bool
	}{
		{-1, -2, true}, // nothing committed by anyone: FirstOffset
		{-1, -1, true}, // LastOffset
		{-1, 5, false}, // someone committed meanwhile
		{5, 5, true},   // our own commit
		{5, 9, false},  // moved on by another member
		{5, 3, false},  // moved back (reset by an operator)
		{5, -2, false}, // commits expired or deleted
		{0, 0, true},
	}
	for _, tc := range tests {
		st := &partition{committed: tc.ours}
		if got := st.continuesAt(tc.assigned); got != tc.want {
			t.Errorf("committed %d, assigned at %d: continuesAt = %v; want %v", tc.ours, tc.assigned, got, tc.want)
		}
	}
}

// TestKafkaDeadLetterTopicDown: while the dead-letter topic cannot be
// written, good records still flow, Read reports the error (with a
// backoff, so a loop retrying at once does not spin) and the bad record's
// offset is not committed; once the topic is there, it is written and the
// commit moves on.
func TestKafkaDeadLetterTopicDown(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.produce(t, topic, msg{0, "", "bad"}, msg{0, "", eventJSON(0, 1)})
	cfg := c.config(t, "down")
	cfg.DeadLetterTopic = "later"
	k := open(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []Record
	for len(recs) == 0 { // the dead-letter error comes first when the good record is not fetched yet
		var err error
		recs, err = k.Read(ctx)
		if ctx.Err() != nil {
			t.Fatalf("Read = %v", err)
		}
	}
	if len(recs) != 1 || recs[0].Offset != 1 {
		t.Fatalf("read %v, want 0/1", positions(recs))
	}
	k.Done(recs[0])
	start := time.Now()
	for range 3 {
		if _, err := k.Read(ctx); err == nil || !strings.Contains(err.Error(), "Unknown Topic") {
			t.Fatalf("Read = %v; want the dead-letter error", err)
		}
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("3 failing Reads took %v: no backoff", d)
	}
	if s := k.Stats(); s.DeadLetterPending != 1 || len(s.DeadLettered) != 0 {
		t.Errorf("Stats = %+v", s)
	}
	time.Sleep(3 * cfg.CommitInterval)
	if got := c.commits("down"); len(got) != 0 {
		t.Fatalf("committed %v past a record not yet dead-lettered", got)
	}

	if err := c.CreateTopic("later", 1, nil); err != nil {
		t.Fatal(err)
	}
	// kafka-go caches the topic's absence for its metadata TTL (6s).
	deadline := time.Now().Add(20 * time.Second)
	for c.commits("down")[0] != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("never committed; stats %+v", k.Stats())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		recs, err := k.Read(ctx)
		cancel()
		if len(recs) > 0 {
			t.Fatalf("Read = %v", positions(recs))
		}
		_ = err // the dead-letter error until the topic is known
	}
	if s := k.Stats(); s.DeadLettered[event.ReasonMalformed] != 1 || s.DeadLetterPending != 0 {
		t.Errorf("Stats = %+v", s)
	}
}

// owned follows a member's partitions through OnAssign and OnRevoke.
type owned struct {
	mu sync.Mutex
	ps map[int]bool
}

func (o *owned) assign(ps []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ps == nil {
		o.ps = map[int]bool{}
	}
	for _, p := range ps {
		o.ps[p] = true
	}
}

func (o *owned) revoke(ps []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		delete(o.ps, p)
	}
}

func (o *owned) list() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int
	for p := range o.ps {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

func partitionsOf(k *Kafka) []int {
	var out []int
	for p := range k.Stats().Partitions {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}
