package serve

import (
	"fmt"
	"testing"
	"time"
)

// One alert whose field is not finite (a division by zero in alert.fields)
// cannot be encoded by any sink: the batch fails forever, every later
// alert waits behind it, and readyz reports the sinks failing.
func TestNonFiniteFieldDoesNotBlockDelivery(t *testing.T) {
	cfg := testConfig(t, velocityRules+`  - name: ratio
    key: card
    threshold:
      window: 10m
      condition: count() >= 1
    alert:
      fields: {per_decline: sum(amount) / count(status == "declined")}
`)
	cfg.Limits.AlertQueue = 10
	r := start(t, cfg)
	code, body := r.post(t, ev("x1", t0, "c1", "approved"))
	if code != 200 {
		t.Fatalf("post: %d %v", code, body)
	}
	for i := 0; i < 3; i++ {
		r.post(t, ev(fmt.Sprintf("d%d", i), t0+int64(i+1)*1000, "c2", "declined"))
	}
	time.Sleep(time.Second)
	st := r.svc.eng.Stats()
	stored := r.alerts(t, "")
	t.Logf("pending %d, stored %d, delivery error: %v", st.Pending, len(stored), st.DeliveryError)
	if len(stored) == 0 {
		t.Errorf("no alert stored: every alert waits behind one the sinks cannot encode (%v)", st.DeliveryError)
	}
}
