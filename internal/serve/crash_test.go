package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// TestCrashBeforeCommitRedeliversWithTheSameIDs kills a real `vigil serve`
// process (SIGKILL) after its alerts are stored but before it committed
// any offset, starts it again, and checks that the re-delivered events
// raise the same alert ids and that the store holds each alert once. Then
// a graceful stop (SIGTERM) commits, and a third run gets nothing again.
func TestCrashBeforeCommitRedeliversWithTheSameIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vigil binary")
	}
	bin := buildVigil(t)
	b := newBroker(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(velocityRules), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	config := fmt.Sprintf(`rules: [%q]
data_dir: %q
http: {listen: %q}
time: {out_of_orderness: 0s, idle_timeout: 300ms}
logging: {level: debug}
kafka:
  brokers: [%q]
  topic: events
  group_id: crash-test
  dead_letter_topic: events.dead-letter
  commit_interval: 1h          # never on a timer: only a graceful stop commits
  heartbeat_interval: 100ms
  session_timeout: 1s
  rebalance_timeout: 1s
  join_group_backoff: 100ms
  fetch_max_wait: 100ms
`, filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "data"), addr, b.addrs[0])
	cfgPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var msgs [][2]string
	for i := 0; i < 3; i++ {
		for _, card := range []string{"c1", "c2"} {
			msgs = append(msgs, [2]string{card, ev(fmt.Sprintf("%s-%d", card, i), t0+int64(i)*1000, card, "declined")})
		}
	}
	b.produce(t, "events", msgs...)

	first := startProcess(t, bin, cfgPath)
	eventually(t, 20*time.Second, "2 alerts stored by the first process", func() bool { return len(storedAlerts(t, addr)) == 2 })
	firstIDs := first.alertIDs(2)
	first.kill(t)

	second := startProcess(t, bin, cfgPath)
	secondIDs := second.alertIDs(2) // re-delivered: the offsets were never committed
	if strings.Join(firstIDs, ",") != strings.Join(secondIDs, ",") {
		t.Errorf("re-delivered events raised ids %v; the first run raised %v", secondIDs, firstIDs)
	}
	if stored := storedAlerts(t, addr); len(stored) != 2 {
		t.Errorf("store holds %d alerts after the replay; want 2 (no duplicates)", len(stored))
	}
	second.terminate(t) // graceful: commits

	third := startProcess(t, bin, cfgPath)
	eventually(t, 20*time.Second, "the third process to serve", func() bool { return storedAlertsOK(addr) })
	time.Sleep(time.Second) // time to consume anything uncommitted
	if got := third.stdoutLines(); len(got) != 0 {
		t.Errorf("after a graceful stop, a restart re-processed events: %v", got)
	}
	third.terminate(t)
}

type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string
	more chan struct{}
}

func startProcess(t *testing.T, bin, cfgPath string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve", "-c", cfgPath), more: make(chan struct{}, 100)}
	p.cmd.Stderr = &testWriter{t: t}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
			p.more <- struct{}{}
		}
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	return p
}

func (p *process) stdoutLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out...)
}

// alertIDs waits for n alerts on the process's stdout and returns their
// ids, sorted.
func (p *process) alertIDs(n int) []string {
	deadline := time.After(30 * time.Second)
	for len(p.stdoutLines()) < n {
		select {
		case <-p.more:
		case <-deadline:
			return nil
		}
	}
	var ids []string
	for _, line := range p.stdoutLines() {
		var a cep.Alert
		if json.Unmarshal([]byte(line), &a) == nil {
			ids = append(ids, a.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func (p *process) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *process) terminate(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("vigil serve after SIGTERM: %v; want exit 0", err)
	}
}

func storedAlerts(t *testing.T, addr string) []cep.Alert {
	resp, err := http.Get("http://" + addr + "/v1/alerts")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var page struct {
		Alerts []cep.Alert `json:"alerts"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&page)
	return page.Alerts
}

func storedAlertsOK(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testWriter sends a subprocess's log to the test log.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	if os.Getenv("VIGIL_TEST_DEBUG") != "" {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// TestWebhookAlertsSurviveACrash: the webhook is down when vigil raises an
// alert, and vigil is then killed (SIGKILL) with the alert still in the
// webhook's queue. After a restart the alert reaches the receiver, exactly
// once, from the store's outbox.
func TestWebhookAlertsSurviveACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vigil binary")
	}
	bin := buildVigil(t)
	recv := &flakyReceiver{failLeft: 1 << 30, got: map[string]int{}}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(velocityRules), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`rules: [%q]
data_dir: %q
http: {listen: %q}
time: {out_of_orderness: 0s, idle_timeout: 300ms}
sinks:
  webhook: {url: %q, min_backoff: 10ms, max_backoff: 50ms}
`, filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "data"), addr, hook.URL)), 0o644); err != nil {
		t.Fatal(err)
	}

	first := startProcess(t, bin, cfgPath)
	eventually(t, 20*time.Second, "the first process to serve", func() bool { return storedAlertsOK(addr) })
	var body strings.Builder
	for i := 0; i < 3; i++ {
		body.WriteString(ev(fmt.Sprintf("e%d", i), t0+int64(i)*1000, "c1", "declined") + "\n")
	}
	eventually(t, 20*time.Second, "the events to be accepted", func() bool {
		resp, err := http.Post("http://"+addr+"/v1/events", "application/x-ndjson", strings.NewReader(body.String()))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	eventually(t, 20*time.Second, "the alert in the store", func() bool { return len(storedAlerts(t, addr)) == 1 })
	id := storedAlerts(t, addr)[0].ID
	eventually(t, 10*time.Second, "the webhook to be tried", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return recv.failed > 0
	})
	first.kill(t) // the alert was only in the webhook's memory queue

	recv.mu.Lock()
	recv.failLeft = 0 // the receiver is back
	recv.mu.Unlock()
	second := startProcess(t, bin, cfgPath)
	eventually(t, 20*time.Second, "the alert at the receiver after the restart", func() bool { return recv.accepted()[id] == 1 })
	second.terminate(t)
	if got := recv.accepted(); len(got) != 1 || got[id] != 1 {
		t.Errorf("receiver got %v; want alert %s exactly once", got, id)
	}
}

// buildVigil builds the vigil binary for the tests that run it as a
// process.
func buildVigil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	build := exec.Command("go", "build", "-o", bin, "github.com/vigilhq/vigil/cmd/vigil")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}
