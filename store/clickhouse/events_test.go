package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
	"github.com/vigilhq/vigil/event"
)

func decodeRows(t testing.TB, source string, raws ...string) []Row {
	t.Helper()
	dec := event.Decoder{}
	rows := make([]Row, len(raws))
	for i, raw := range raws {
		pos := fmt.Sprintf("%s:%d", source, i+1)
		ev, err := dec.Decode([]byte(raw), pos)
		if err != nil {
			t.Fatalf("%s: %v", raw[:min(len(raw), 80)], err)
		}
		rows[i] = Row{Event: ev, Raw: []byte(raw), Source: source, Position: pos}
	}
	return rows
}

func add(t testing.TB, w *EventWriter, rows []Row, ack func()) {
	t.Helper()
	if err := w.Reserve(context.Background(), len(rows), SizeOf(rows)); err != nil {
		t.Fatal(err)
	}
	w.Add(rows, ack)
}

func scanAll(t testing.TB, s *Store) []StoredEvent {
	t.Helper()
	var out []StoredEvent
	err := s.ScanEvents(context.Background(), time.UnixMilli(0), time.UnixMilli(1<<50), time.Hour, func(e StoredEvent) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventsRoundTrip(t *testing.T) {
	s := openTest(t, Config{KeyFields: []string{"card_id", "merchant.country"}, BatchInterval: 10 * time.Millisecond})
	w := s.NewEventWriter()
	head := `{"id":"big","ts":"2026-11-20T10:00:00.002Z","card_id":"c1","blob":"`
	big := head + strings.Repeat("é", (1<<20-len(head)-2)/2) + `"}` // 1 MiB, the largest event accepted
	raws := []string{
		`{"id":"e1","ts":"2026-11-20T10:00:00.001Z","type":"auth","card_id":"c1","amount":12.5,"merchant":{"country":"NG","tags":["a",{"b":[1,2]}]}}`,
		`{"id":"e2","ts":1795168800001,"card_id":"カード","note":"ünïcödé ✓ \u0000 \"quoted\""}`,
		big,
		`{"ts":"2026-11-20T10:00:00.001999Z","card_id":7}`, // no id: one from the position; sub-ms cut to ms
		`{"id":"far","ts":253402300799999,"card_id":"c1"}`, // beyond what DateTime holds: stored, time_ms exact
		`{"id":"old","ts":-5000,"card_id":"c1"}`,           // before 1970
	}
	rows := decodeRows(t, "t.ndjson", raws...)
	var acked atomic.Bool
	add(t, w, rows, func() { acked.Store(true) })
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !acked.Load() {
		t.Fatal("ack did not run after Close")
	}
	got := scanAll(t, s)
	var far, old int64
	if err := s.conn.QueryRow(context.Background(), "SELECT anyIf(time_ms, id = 'far'), anyIf(time_ms, id = 'old') FROM "+s.db+".events").Scan(&far, &old); err != nil {
		t.Fatal(err)
	}
	if far != 253402300799999 || old != -5000 {
		t.Fatalf("time_ms of far and old events = %d, %d", far, old)
	}
	// Event-time order; equal times in arrival order.
	want := []struct {
		ms  int64
		id  string
		raw string
	}{{1795168800001, "e1", raws[0]}, {1795168800001, "e2", raws[1]}, {1795168800001, "t.ndjson:4", raws[3]}, {1795168800002, "big", big}, {253402300799999, "far", raws[4]}}
	if len(got) != len(want) {
		t.Fatalf("read %d events; want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].TimeMs != w.ms || got[i].ID != w.id || string(got[i].Raw) != w.raw {
			t.Errorf("event %d = %d %s %.60q; want %d %s %.60q", i, got[i].TimeMs, got[i].ID, got[i].Raw, w.ms, w.id, w.raw)
		}
		if !json.Valid(got[i].Raw) {
			t.Errorf("event %d: stored JSON is not valid", i)
		}
	}
	var key, typ string
	var names, vals []string
	if err := s.conn.QueryRow(context.Background(), "SELECT key, type, key_names, key_values FROM "+s.db+".events WHERE id = 'e1'").
		Scan(&key, &typ, &names, &vals); err != nil {
		t.Fatal(err)
	}
	if key != "c1" || typ != "auth" || strings.Join(names, ",") != "card_id,merchant.country" || strings.Join(vals, ",") != "c1,NG" {
		t.Fatalf("columns of e1: key %q type %q names %v values %v", key, typ, names, vals)
	}
}

// TestEventsWrittenTwiceReadOnce: a batch written again (its answer was
// lost) shows its events once.
func TestEventsWrittenTwiceReadOnce(t *testing.T) {
	s := openTest(t, Config{BatchInterval: 10 * time.Millisecond})
	w := s.NewEventWriter()
	rows := decodeRows(t, "f", `{"id":"a","ts":1000}`, `{"id":"b","ts":1000}`, `{"id":"c","ts":999}`)
	add(t, w, rows, nil)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The same queued rows sent again, as a retry would.
	w.mu.Lock()
	w.mu.Unlock()
	again := make([]queued, len(rows))
	for i, r := range rows {
		again[i] = queued{Row: r, ingestSeq: uint64(i + 1)}
	}
	if err := w.send(again); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range scanAll(t, s) {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "c,a,b" {
		t.Fatalf("events read = %v; want c,a,b", ids)
	}
	if n, err := s.CountEvents(context.Background(), time.UnixMilli(0), time.UnixMilli(2000)); err != nil || n != 3 {
		t.Fatalf("CountEvents = %d, %v; want 3", n, err)
	}
}

func TestReserveBackpressure(t *testing.T) {
	s := openTest(t, Config{BatchRows: 2, MaxQueuedRows: 2, BatchInterval: time.Hour})
	w := s.NewEventWriter()
	defer w.Close(context.Background())
	if err := w.Reserve(context.Background(), 2, 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Reserve(ctx, 1, 10); err == nil || !strings.Contains(err.Error(), "event queue full") {
		t.Fatalf("Reserve on a full queue = %v; want ErrBusy", err)
	}
	w.Release(2, 10)
	if err := w.Reserve(context.Background(), 1, 10); err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
	w.Release(1, 10)
}

// TestRestartDuringIngestion writes events while the server restarts:
// every event is stored, none shows twice, and acks ran only for stored
// events. It runs its own server (scripts/clickhouse.sh).
func TestRestartDuringIngestion(t *testing.T) {
	testAddr(t) // same skip rule
	script, _ := filepath.Abs("../../scripts/clickhouse.sh")
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		t.Fatalf("clickhouse-server is not installed: %v", err)
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(script, args...)
		cmd.Env = append(os.Environ(), "PORT=19300")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("clickhouse.sh %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	addr := run("start", dir)
	t.Cleanup(func() { run("stop", dir) })
	ctx := context.Background()
	s, err := Open(ctx, Config{Addr: []string{addr}, Database: "restart", BatchRows: 500, BatchInterval: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DialTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	w := s.NewEventWriter()
	const total = 20000
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i += 100 {
			raws := make([]string, 100)
			for j := range raws {
				raws[j] = fmt.Sprintf(`{"id":"e%d","ts":%d,"card_id":"c%d"}`, i+j, 1795168800000+int64(i+j), (i+j)%50)
			}
			add(t, w, decodeRows(t, "gen", raws...), func() { acked.Add(100) })
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	run("stop", dir)
	time.Sleep(300 * time.Millisecond)
	if w.Err() == nil && w.Queued() == 0 {
		t.Log("no failure seen while the server was down")
	}
	run("start", dir)
	<-done
	flushCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := w.Close(flushCtx); err != nil {
		t.Fatal(err)
	}
	if acked.Load() != total {
		t.Fatalf("acked %d events; want %d", acked.Load(), total)
	}
	var rowsStored, distinct uint64
	if err := s.conn.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM restart.events").Scan(&rowsStored, &distinct); err != nil {
		t.Fatal(err)
	}
	n, err := s.CountEvents(ctx, time.UnixMilli(0), time.UnixMilli(1<<50))
	if err != nil || n != total || distinct != total {
		t.Fatalf("after a restart: %d distinct events, %d as queries see them (%v), %d rows; want %d", distinct, n, err, rowsStored, total)
	}
	t.Logf("%d rows stored for %d events (copies from retried batches collapse in queries)", rowsStored, total)
}

// TestDropBefore: retention drops whole day partitions of both tables.
func TestDropBefore(t *testing.T) {
	s := openTest(t, Config{BatchInterval: 10 * time.Millisecond})
	ctx := context.Background()
	w := s.NewEventWriter()
	add(t, w, decodeRows(t, "f", `{"id":"old","ts":"2026-11-01T23:59:59.999Z"}`, `{"id":"new","ts":"2026-11-02T00:00:00Z"}`), nil)
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(ctx, []cep.Alert{
		{ID: "a-old", Rule: "r", Time: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)},
		{ID: "a-new", Rule: "r", Time: time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)},
	}); err != nil {
		t.Fatal(err)
	}
	dropped, err := s.DropBefore(ctx, time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(dropped, ",") != "alerts/20261101,events/20261101" {
		t.Fatalf("dropped %v; want the 2026-11-01 partitions of both tables", dropped)
	}
	var ids []string
	for _, e := range scanAll(t, s) {
		ids = append(ids, e.ID)
	}
	if n, _ := s.Count(ctx); strings.Join(ids, ",") != "new" || n != 1 {
		t.Fatalf("after retention: events %v, %d alerts; want [new] and 1", ids, n)
	}
}
