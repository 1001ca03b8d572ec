package serve

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A late Kafka record whose dead letter cannot be written (the dead-letter
// topic is down) when the service stops: deadLetter gives up on the
// cancelled context, push marks the records done anyway, and the final
// commit moves past a record that was neither matched nor dead-lettered.
func TestUnwrittenDeadLetterIsNotCommitted(t *testing.T) {
	b := newBroker(t)
	cfg := testConfig(t, velocityRules)
	cfg.Time.OutOfOrderness = 0
	cfg.Kafka = b.kafkaSource()
	b.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			if tp.Topic == "events.dead-letter" {
				return nil, errors.New("dead-letter topic down"), true
			}
		}
		return nil, nil, false
	})
	r := start(t, cfg)
	// One card, so one partition: the second record is late.
	b.produce(t, "events", [2]string{"c1", ev("on-time", t0, "c1", "declined")}, [2]string{"c1", ev("late", t0-60_000, "c1", "declined")})
	eventually(t, 20*time.Second, "both records seen", func() bool {
		st := r.svc.eng.Stats()
		return st.Processed == 1 && st.Late == 1
	})
	time.Sleep(300 * time.Millisecond) // the dead letter is being retried
	if err := r.stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	var committed int64 = -1
	if g := b.GroupInfo("vigil-test"); g != nil {
		for _, c := range g.Commits["events"] {
			committed = max(committed, c.Offset)
		}
	}
	if committed == 2 {
		t.Errorf("offset committed past the late record (2) although its dead letter was never written: it is lost")
	}
	t.Logf("committed %d", committed)
}
