package serve

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// call sends one API request and decodes its JSON answer.
func (r *running) call(t *testing.T, method, path, token, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, data, err)
	}
	return resp.StatusCode, out
}

// putRules replaces the ruleset with one file and returns the new version.
func (r *running) putRules(t *testing.T, yaml string) int64 {
	t.Helper()
	status, body := r.call(t, "PUT", "/v1/rules?name=rules.yaml", "", "", []byte(yaml))
	if status != http.StatusOK {
		t.Fatalf("PUT /v1/rules: %d %v", status, body)
	}
	return int64(body["version"].(float64))
}

// settle waits until the service has written every alert of what it was
// sent: the engine's queue is empty.
func (r *running) settle(t *testing.T) {
	t.Helper()
	eventually(t, 10*time.Second, "the alerts to be written", func() bool {
		st := r.svc.eng.Stats()
		return st.Pending == 0
	})
}

func reloadConfig(t *testing.T, rulesYAML string) *Config {
	cfg := testConfig(t, rulesYAML)
	cfg.Time.AdvanceWhenIdle = false // event time only: sleeps in a test must not move it
	cfg.Sinks.Stdout = false
	return cfg
}

func payment(id string, ms int64, card string, amount float64, status string) string {
	return fmt.Sprintf(`{"id":%q,"ts":%d,"card":%q,"amount":%g,"status":%q}`, id, ms, card, amount, status)
}

const probeRules = `rules:
  - name: probe-then-large
    key: card
    severity: medium
    pattern:
      - begin: small
        where: amount < 5
      - followed_by: large
        where: amount > 500
    within: 10m
    alert:
      summary: 'probe then {{ matched.large[0].amount }}'
  - name: declines
    key: card
    severity: low
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
`

// TestReloadKeepsOrDropsInFlightState runs each case twice on fresh
// services, with and without a PUT between the first and the second part
// of the events, and compares the alerts.
func TestReloadKeepsOrDropsInFlightState(t *testing.T) {
	before := []string{
		payment("s1", t0, "c1", 1, "approved"),
		payment("d1", t0+1000, "c2", 10, "declined"),
		payment("d2", t0+2000, "c2", 10, "declined"),
	}
	after := []string{
		payment("l1", t0+3000, "c1", 900, "approved"),
		payment("d3", t0+4000, "c2", 10, "declined"),
	}
	cases := []struct {
		name string
		edit func(string) string
		// want: rule → severity of its alert after the reload; "" means it
		// must not fire.
		want map[string]string
	}{
		{"unchanged", func(s string) string { return s },
			map[string]string{"probe-then-large": "medium", "declines": "low"}},
		{"severity and summary", func(s string) string {
			return strings.Replace(strings.Replace(s, "severity: medium", "severity: critical", 1), "probe then", "PROBE then", 1)
		}, map[string]string{"probe-then-large": "critical", "declines": "low"}},
		{"within changed", func(s string) string { return strings.Replace(s, "within: 10m", "within: 20m", 1) },
			map[string]string{"probe-then-large": "", "declines": "low"}},
		{"window changed", func(s string) string { return strings.Replace(s, "window: 10m", "window: 11m", 1) },
			map[string]string{"probe-then-large": "medium", "declines": ""}},
	}
	// The reference: the same events, no reload.
	ref := start(t, reloadConfig(t, probeRules))
	ref.post(t, strings.Join(append(slices.Clone(before), after...), "\n"))
	ref.settle(t)
	refIDs := map[string]string{}
	for _, a := range ref.alerts(t, "") {
		refIDs[a.Rule] = a.ID
	}
	if len(refIDs) != 2 {
		t.Fatalf("reference run raised %v; want one alert per rule", refIDs)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, reloadConfig(t, probeRules))
			r.post(t, strings.Join(before, "\n"))
			r.settle(t)
			r.putRules(t, tc.edit(probeRules))
			r.post(t, strings.Join(after, "\n"))
			r.settle(t)
			got := map[string]cep.Alert{}
			for _, a := range r.alerts(t, "") {
				got[a.Rule] = a
			}
			for rule, sev := range tc.want {
				a, fired := got[rule]
				switch {
				case sev == "" && fired:
					t.Errorf("%s fired (%s) after its matching definition changed", rule, a.ID)
				case sev != "" && !fired:
					t.Errorf("%s did not fire: its in-flight state was lost", rule)
				case sev != "" && (a.Severity != sev || a.ID != refIDs[rule]):
					t.Errorf("%s: severity %s id %s; want %s and the id without a reload, %s", rule, a.Severity, a.ID, sev, refIDs[rule])
				}
			}
			if len(got) != len(slices.DeleteFunc(slicesOf(tc.want), func(s string) bool { return s == "" })) {
				t.Errorf("alerts %v; want %v", got, tc.want)
			}
		})
	}
}

func slicesOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestHundredReloadsDuringAStreamChangeNoAlert posts a steady stream while
// the ruleset is replaced 100 times with presentation edits: the alerts,
// ids included, are exactly those of the same stream without reloads.
func TestHundredReloadsDuringAStreamChangeNoAlert(t *testing.T) {
	var batches []string
	for b := 0; b < 40; b++ {
		var lines []string
		for i := 0; i < 50; i++ {
			n := b*50 + i
			card := fmt.Sprintf("c%d", n%37)
			amount, status := 10.0, "declined"
			switch n % 5 {
			case 0:
				amount, status = 1, "approved"
			case 3:
				amount, status = 700, "approved"
			}
			lines = append(lines, payment(fmt.Sprintf("e%d", n), t0+int64(n)*1000, card, amount, status))
		}
		batches = append(batches, strings.Join(lines, "\n"))
	}
	run := func(reloads int) []string {
		r := start(t, reloadConfig(t, probeRules))
		var wg sync.WaitGroup
		var applied atomic.Int64
		wg.Go(func() {
			for b, batch := range batches {
				// Paced by the reloads, so that they interleave with the
				// stream from its first batch to its last.
				for applied.Load() < int64(b*reloads/len(batches)) {
					time.Sleep(time.Millisecond)
				}
				if status, body := r.post(t, batch); status != http.StatusOK || body["accepted"] != 50.0 {
					t.Errorf("post: %d %v", status, body)
				}
			}
		})
		for i := 0; i < reloads; i++ {
			edited := strings.Replace(probeRules, "probe then", fmt.Sprintf("probe #%d then", i), 1)
			edited = strings.Replace(edited, "severity: low", []string{"severity: low", "severity: high"}[i%2], 1)
			r.putRules(t, edited)
			applied.Add(1)
		}
		wg.Wait()
		r.settle(t)
		var ids []string
		for _, a := range r.alerts(t, "limit=1000") {
			ids = append(ids, a.ID)
		}
		slices.Sort(ids)
		return ids
	}
	without, with := run(0), run(100)
	if len(without) < 20 {
		t.Fatalf("the stream raised only %d alerts; the test needs more", len(without))
	}
	t.Logf("%d alerts, the same with and without 100 reloads", len(without))
	if !slices.Equal(with, without) {
		t.Errorf("with 100 reloads: %d alerts, without: %d; they differ (lost or doubled)", len(with), len(without))
	}
}

func TestConcurrentPutsSerializeIntoVersions(t *testing.T) {
	r := start(t, reloadConfig(t, probeRules))
	var mu sync.Mutex
	var versions []int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			v := r.putRules(t, strings.Replace(probeRules, "probe then", fmt.Sprintf("put %d:", i), 1))
			mu.Lock()
			versions = append(versions, v)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(versions)
	want := make([]int64, 20)
	for i := range want {
		want[i] = int64(i + 2) // version 1 is start-up's
	}
	if !slices.Equal(versions, want) {
		t.Errorf("versions %v; want %v", versions, want)
	}
	_, body := r.call(t, "GET", "/v1/rules/versions", "", "", nil)
	if n := len(body["versions"].([]any)); n != 21 {
		t.Errorf("%d versions recorded; want 21", n)
	}
	// The running version is the newest.
	_, rules := r.call(t, "GET", "/v1/rules", "", "", nil)
	if rules["version"] != 21.0 {
		t.Errorf("running version %v; want 21", rules["version"])
	}
}

func TestInvalidRulesLeaveTheOldOnesRunning(t *testing.T) {
	r := start(t, reloadConfig(t, probeRules))
	r.post(t, payment("d1", t0, "c1", 10, "declined")+"\n"+payment("d2", t0+1, "c1", 10, "declined"))
	bad := strings.Replace(probeRules, "where: amount < 5", "where: amount <", 1)
	status, body := r.call(t, "PUT", "/v1/rules?name=edited.yaml", "", "", []byte(bad))
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("PUT of broken rules: %d %v; want 422", status, body)
	}
	e := body["error"].(map[string]any)
	d := e["details"].([]any)[0].(map[string]any)
	if e["code"] != "invalid_rules" || d["file"] != "edited.yaml" || d["line"] != 7.0 || d["column"] == nil ||
		d["rule"] != "probe-then-large" || d["message"] == "" {
		t.Errorf("error = %v", e)
	}
	// Validate gives the same error.
	if status, body := r.call(t, "POST", "/v1/rules/validate?name=edited.yaml", "", "", []byte(bad)); status != 422 ||
		body["error"].(map[string]any)["details"].([]any)[0].(map[string]any)["line"] != 7.0 {
		t.Errorf("validate: %d %v", status, body)
	}
	// The old rules run on: the in-flight threshold completes.
	r.post(t, payment("d3", t0+2, "c1", 10, "declined"))
	r.settle(t)
	if a := r.alerts(t, "rule=declines"); len(a) != 1 {
		t.Errorf("declines alerts after a refused reload: %v", a)
	}
	_, vs := r.call(t, "GET", "/v1/rules/versions", "", "", nil)
	if n := len(vs["versions"].([]any)); n != 1 {
		t.Errorf("%d versions after a refused PUT; want 1", n)
	}
	// The PUT counts as a failed reload; validate, a dry run, does not.
	if st := r.svc.rules.Stats(); st.Failures != 1 || st.Version != 1 || st.LastErr == "" {
		t.Errorf("reload stats %+v; want 1 failure, version 1", st)
	}
}

func TestValidateShowsTheDiffAndChangesNothing(t *testing.T) {
	r := start(t, reloadConfig(t, probeRules))
	edited := strings.Replace(probeRules, "severity: low", "severity: high", 1)
	edited = strings.Replace(edited, "within: 10m", "within: 1m", 1)
	edited += `  - name: newcomer
    key: card
    threshold:
      window: 1m
      condition: count() > 100
`
	status, body := r.call(t, "POST", "/v1/rules/validate", "", "", []byte(edited))
	if status != 200 {
		t.Fatalf("validate: %d %v", status, body)
	}
	got, _ := json.Marshal(body["diff"])
	want := `{"added":["newcomer"],"changed_matching":["probe-then-large"],"changed_presentation":["declines"],"removed":[],"unchanged":0}`
	if string(got) != want {
		t.Errorf("diff %s; want %s", got, want)
	}
	if _, rules := r.call(t, "GET", "/v1/rules", "", "", nil); rules["version"] != 1.0 || len(rules["rules"].([]any)) != 2 {
		t.Errorf("validate changed the running rules: %v", rules)
	}
}

func TestRollbackRestoresAVersionByteForByte(t *testing.T) {
	cfg := reloadConfig(t, probeRules)
	r := start(t, cfg)
	original, err := os.ReadFile(cfg.Rules[0])
	if err != nil {
		t.Fatal(err)
	}
	// Two files over multipart, then roll back to start-up's single file.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, text := range map[string]string{"a.yaml": strings.Split(probeRules, "  - name: declines")[0],
		"b.yaml": "rules:\n  - name: declines" + strings.Split(probeRules, "  - name: declines")[1]} {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write([]byte(text))
	}
	mw.Close()
	if status, resp := r.call(t, "PUT", "/v1/rules", "", mw.FormDataContentType(), body.Bytes()); status != 200 || resp["version"] != 2.0 {
		t.Fatalf("multipart PUT: %d %v", status, resp)
	}
	_, v2 := r.call(t, "GET", "/v1/rules/versions/2", "", "", nil)
	if files := v2["files"].([]any); len(files) != 2 {
		t.Fatalf("version 2 files %v", files)
	}
	status, resp := r.call(t, "POST", "/v1/rules/rollback/1", "", "", nil)
	if status != 200 || resp["version"] != 3.0 {
		t.Fatalf("rollback: %d %v", status, resp)
	}
	_, v3 := r.call(t, "GET", "/v1/rules/versions/3", "", "", nil)
	files := v3["files"].([]any)
	f := files[0].(map[string]any)
	if len(files) != 1 || f["name"] != cfg.Rules[0] || f["text"] != string(original) || v3["source"] != "rollback of version 1" {
		t.Errorf("version 3 = %v; want the start-up file byte for byte", v3)
	}
	if _, rules := r.call(t, "GET", "/v1/rules", "", "", nil); rules["version"] != 3.0 || rules["files"].([]any)[0] != cfg.Rules[0] {
		t.Errorf("running after rollback: %v", rules)
	}
	if status, _ := r.call(t, "POST", "/v1/rules/rollback/99", "", "", nil); status != 404 {
		t.Errorf("rollback to a missing version: %d; want 404", status)
	}
	// GET /v1/rules/{name} shows the rule's own text.
	_, rule := r.call(t, "GET", "/v1/rules/declines", "", "", nil)
	if !strings.HasPrefix(rule["text"].(string), "name: declines\n") || !strings.Contains(rule["text"].(string), "condition: count() >= 3") ||
		strings.Contains(rule["text"].(string), "probe") || rule["line"] != 13.0 {
		t.Errorf("rule = %v", rule)
	}
}

func TestListUpdateWithoutReload(t *testing.T) {
	r := start(t, reloadConfig(t, probeRules))
	// A list kept through the API, then a rule that uses it.
	if status, body := r.call(t, "PUT", "/v1/lists/blocked", "", "", []byte("# none yet\n")); status != 200 {
		t.Fatalf("PUT list: %d %v", status, body)
	}
	r.putRules(t, probeRules+`  - name: blocked-card
    key: card
    where: card in lists.blocked
    threshold:
      window: 1m
      condition: count() >= 1
`)
	// declines is in flight for c1 (2 of 3) when the list changes.
	r.post(t, payment("d1", t0, "c1", 10, "declined")+"\n"+payment("d2", t0+1, "c1", 10, "declined")+"\n"+payment("x1", t0+2, "c9", 10, "approved"))
	r.settle(t)
	status, body := r.call(t, "PUT", "/v1/lists/blocked", "", "", []byte(`["c9", "c10"]`))
	if status != 200 || body["size"] != 2.0 || body["origin"] != "api" {
		t.Fatalf("PUT list: %d %v", status, body)
	}
	r.post(t, payment("d3", t0+3, "c1", 10, "declined")+"\n"+payment("x2", t0+4, "c9", 10, "approved"))
	r.settle(t)
	if a := r.alerts(t, "rule=blocked-card"); len(a) != 1 || a[0].Key != "c9" || a[0].EventIDs[0] != "x2" {
		t.Errorf("blocked-card alerts %v; want one for c9 on x2", a)
	}
	if a := r.alerts(t, "rule=declines"); len(a) != 1 || strings.Join(a[0].EventIDs, ",") != "d1,d2,d3" {
		t.Errorf("declines alerts %v; the list update must keep its state", a)
	}
	// The list survives a restart, and the rules naming it still load.
	_, got := r.call(t, "GET", "/v1/lists/blocked", "", "", nil)
	if vals, _ := json.Marshal(got["list"].(map[string]any)["values"]); string(vals) != `["c10","c9"]` {
		t.Errorf("list values %s", vals)
	}
	if h := got["history"].([]any); len(h) != 2 {
		t.Errorf("list history %v; want 2 versions", h)
	}
	// A list defined in a rules file cannot be replaced through the API.
	withList := "lists:\n  vip: [a, b]\n" + probeRules
	r.putRules(t, withList)
	if status, body := r.call(t, "PUT", "/v1/lists/vip", "", "", []byte(`["c"]`)); status != http.StatusConflict {
		t.Errorf("PUT of a file's list: %d %v; want 409", status, body)
	}
	// And a file cannot define a list the API keeps.
	clash := "lists:\n  blocked: [z]\n" + probeRules
	if status, body := r.call(t, "PUT", "/v1/rules", "", "", []byte(clash)); status != 422 {
		t.Errorf("rules defining an API list: %d %v; want 422", status, body)
	}
	if status, body := r.call(t, "PUT", "/v1/lists/blocked", "", "", []byte(`[{"a":1}]`)); status != 400 ||
		body["error"].(map[string]any)["code"] != "bad_list" {
		t.Errorf("PUT of a bad list: %d %v; want 400 bad_list", status, body)
	}
}

func TestHistoryAndListsSurviveARestart(t *testing.T) {
	cfg := reloadConfig(t, probeRules)
	r := start(t, cfg)
	r.putRules(t, strings.Replace(probeRules, "severity: low", "severity: high", 1))
	if status, _ := r.call(t, "PUT", "/v1/lists/blocked", "", "", []byte(`["c9"]`)); status != 200 {
		t.Fatal("PUT list")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// Same configured files: start-up runs them as a new version, because
	// they differ from the latest (the PUT).
	r = start(t, cfg)
	_, vs := r.call(t, "GET", "/v1/rules/versions", "", "", nil)
	list := vs["versions"].([]any)
	if len(list) != 3 || list[0].(map[string]any)["actor"] != "startup" || list[1].(map[string]any)["source"] != "api" {
		t.Fatalf("versions after a restart: %v", list)
	}
	if _, l := r.call(t, "GET", "/v1/lists/blocked", "", "", nil); l["list"] == nil {
		t.Errorf("list lost in a restart: %v", l)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// Unchanged since the latest: no new version.
	r = start(t, cfg)
	_, vs = r.call(t, "GET", "/v1/rules/versions", "", "", nil)
	if n := len(vs["versions"].([]any)); n != 3 {
		t.Errorf("%d versions after a restart with unchanged files; want 3", n)
	}
}

func TestSIGHUPAndFileWatchReload(t *testing.T) {
	// Catch SIGHUP in the test too, so that the signal can never take the
	// default action (exit) on the test binary.
	own := make(chan os.Signal, 1)
	signal.Notify(own, syscall.SIGHUP)
	defer signal.Stop(own)

	cfg := reloadConfig(t, probeRules)
	cfg.RulesWatch = true
	r := start(t, cfg)
	version := func() int64 { return r.svc.rules.Stats().Version }
	time.Sleep(100 * time.Millisecond) // the watcher and the signal handler start with Run

	write := func(text string) {
		if err := os.WriteFile(cfg.Rules[0], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(probeRules, "severity: low", "severity: high", 1))
	eventually(t, 5*time.Second, "the watcher to apply the edit", func() bool { return version() == 2 })
	// A broken edit is refused; the rules stay.
	write(strings.Replace(probeRules, "where: amount < 5", "where: amount <", 1))
	eventually(t, 5*time.Second, "the watcher to refuse the broken edit", func() bool { return r.svc.rules.Stats().Failures == 1 })
	if version() != 2 {
		t.Errorf("version %d after a broken edit; want 2", version())
	}
	// SIGHUP re-reads the files.
	write(strings.Replace(probeRules, "severity: low", "severity: info", 1))
	time.Sleep(2 * watchDebounce) // let the watcher apply it first, as version 3
	eventually(t, 5*time.Second, "the watcher", func() bool { return version() == 3 })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "SIGHUP to reload", func() bool { return version() == 4 })
	_, v := r.call(t, "GET", "/v1/rules/versions/4", "", "", nil)
	if v["actor"] != "sighup" {
		t.Errorf("version 4 = %v; want actor sighup", v)
	}
	_, v = r.call(t, "GET", "/v1/rules/versions/2", "", "", nil)
	if v["actor"] != "file" {
		t.Errorf("version 2 = %v; want actor file", v)
	}
}

func TestTokensGuardEveryEndpoint(t *testing.T) {
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	cfg := reloadConfig(t, probeRules)
	cfg.Auth.Tokens = []TokenConfig{
		{Name: "ops", Scope: "admin", SHA256: hash("admin-secret")},
		{Name: "grafana", Scope: "read", SHA256: hash("read-secret")},
		{Name: "gateway", Scope: "ingest", SHA256: hash("ingest-secret")},
	}
	r := start(t, cfg)
	writes := []struct{ method, path, body string }{
		{"PUT", "/v1/rules", probeRules},
		{"POST", "/v1/rules/validate", probeRules},
		{"POST", "/v1/rules/reload", ""},
		{"POST", "/v1/rules/rollback/1", ""},
		{"PUT", "/v1/lists/blocked", `["x"]`},
	}
	for _, w := range writes {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", 401}, {"wrong", 401}, {"read-secret", 403}, {"ingest-secret", 403}, {"admin-secret", 200}} {
			if status, body := r.call(t, w.method, w.path, tc.token, "", []byte(w.body)); status != tc.want {
				t.Errorf("%s %s with token %q: %d %v; want %d", w.method, w.path, tc.token, status, body, tc.want)
			}
		}
	}
	// The actor of a change is the token's name.
	_, vs := r.call(t, "GET", "/v1/rules/versions", "read-secret", "", nil)
	if a := vs["versions"].([]any)[0].(map[string]any)["actor"]; a != "ops" {
		t.Errorf("actor %v; want ops", a)
	}
	for _, path := range []string{"/v1/rules", "/v1/rules/versions", "/v1/lists", "/v1/alerts"} {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", 401}, {"wrong", 401}, {"ingest-secret", 403}, {"read-secret", 200}, {"admin-secret", 200}} {
			if status, _ := r.call(t, "GET", path, tc.token, "", nil); status != tc.want {
				t.Errorf("GET %s with %q: %d; want %d", path, tc.token, status, tc.want)
			}
		}
	}
	ev := []byte(payment("e1", t0, "c1", 1, "approved"))
	for _, tc := range []struct {
		token string
		want  int
	}{{"", 401}, {"read-secret", 403}, {"ingest-secret", 200}, {"admin-secret", 200}} {
		if status, _ := r.call(t, "POST", "/v1/events", tc.token, "", ev); status != tc.want {
			t.Errorf("POST /v1/events with %q: %d; want %d", tc.token, status, tc.want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _ := r.call(t, "GET", path, "", "", nil); status != 200 {
			t.Errorf("GET %s without a token: %d; want 200", path, status)
		}
	}
}

func TestBadTokenConfigIsRefused(t *testing.T) {
	for _, tc := range []struct {
		tokens []TokenConfig
		want   string
	}{
		{[]TokenConfig{{Name: "", Scope: "admin", SHA256: strings.Repeat("a", 64)}}, "name is required"},
		{[]TokenConfig{{Name: "x", Scope: "root", SHA256: strings.Repeat("a", 64)}}, "want admin, read or ingest"},
		{[]TokenConfig{{Name: "x", Scope: "admin", SHA256: "secret"}}, "64 hex digits"},
		{[]TokenConfig{{Name: "x", Scope: "admin", SHA256: strings.Repeat("a", 64)}, {Name: "x", Scope: "read", SHA256: strings.Repeat("b", 64)}}, "used twice"},
	} {
		cfg := Default()
		cfg.Auth.Tokens = tc.tokens
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tokens %+v: error %v; want %q", tc.tokens, err, tc.want)
		}
	}
}

func TestTLSServesHTTPS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)

	cfg := reloadConfig(t, probeRules)
	cfg.HTTP.TLS = &TLSConfig{Cert: filepath.Join(dir, "missing.pem"), Key: keyPath}
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard); err == nil || !strings.Contains(err.Error(), "http.tls") {
		t.Errorf("a missing certificate: %v; want an http.tls error at start", err)
	}
	cfg.HTTP.TLS.Cert = certPath
	r := start(t, cfg)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(strings.Replace(r.url, "http://", "https://", 1) + "/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET over TLS: %d", resp.StatusCode)
	}
	if resp, err := http.Get(r.url + "/v1/rules"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered on a TLS listener")
	}
}

// TestWatcherKeepsAPIPushesAndSeesDirectorySwaps: an unrelated file
// event in the rules directory does not undo a ruleset pushed through the
// API, and a rules directory replaced by a rename (as deploys do) is seen.
func TestWatcherKeepsAPIPushesAndSeesDirectorySwaps(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "rules")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(probeRules), 0o644)
	cfg := reloadConfig(t, probeRules)
	cfg.Rules = []string{dir}
	cfg.RulesWatch = true
	r := start(t, cfg)
	version := func() int64 { return r.svc.rules.Stats().Version }
	time.Sleep(100 * time.Millisecond)

	r.putRules(t, strings.Replace(probeRules, "severity: low", "severity: high", 1))
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("notes"), 0o644)
	os.WriteFile(filepath.Join(dir, ".r.yaml.swp"), []byte("editor"), 0o644)
	time.Sleep(2*watchPoll + watchDebounce)
	if v := version(); v != 2 {
		t.Fatalf("version %d after unrelated file events; want the API push, 2", v)
	}
	if _, rule := r.call(t, "GET", "/v1/rules/declines", "", "", nil); rule["severity"] != "high" {
		t.Errorf("the API push was undone: %v", rule)
	}

	next := filepath.Join(root, "rules.new")
	os.MkdirAll(next, 0o755)
	os.WriteFile(filepath.Join(next, "r.yaml"), []byte(strings.Replace(probeRules, "severity: low", "severity: info", 1)), 0o644)
	os.Rename(dir, filepath.Join(root, "rules.old"))
	os.Rename(next, dir)
	eventually(t, 3*watchPoll+time.Second, "the swapped directory to be applied", func() bool { return version() == 3 })
	os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(strings.Replace(probeRules, "severity: low", "severity: critical", 1)), 0o644)
	eventually(t, 3*watchPoll+time.Second, "an edit in the swapped directory", func() bool { return version() == 4 })
}

func TestRulesAndListsWrongMethodsAnswer405(t *testing.T) {
	r := start(t, reloadConfig(t, probeRules))
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/rules/versions/1", "GET"},
		{"GET", "/v1/rules/rollback/1", "POST"},
		{"POST", "/v1/lists/x", "GET, PUT, DELETE"},
		{"DELETE", "/v1/rules", "GET, PUT"},
	} {
		if status, body := r.call(t, tc.method, tc.path, "", "", nil); status != 405 ||
			!strings.Contains(body["error"].(map[string]any)["message"].(string), tc.allow) {
			t.Errorf("%s %s: %d %v; want 405 naming %s", tc.method, tc.path, status, body, tc.allow)
		}
	}
}

// TestAListOfTheFilesWinsAtStartUpAndAPIListsCanBeDeleted: a list set
// through the API while the running rules did not define it, which the
// configured files do define, must not keep the service from starting.
func TestAListOfTheFilesWinsAtStartUpAndAPIListsCanBeDeleted(t *testing.T) {
	withList := "lists:\n  vip: [a, b]\n" + probeRules
	cfg := reloadConfig(t, withList)
	r := start(t, cfg)
	r.putRules(t, probeRules) // the running rules no longer define vip
	if status, body := r.call(t, "PUT", "/v1/lists/vip", "", "", []byte(`["z"]`)); status != 200 {
		t.Fatalf("PUT list: %d %v", status, body)
	}
	if status, body := r.call(t, "PUT", "/v1/lists/other", "", "", []byte(`["x"]`)); status != 200 {
		t.Fatalf("PUT list: %d %v", status, body)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r = start(t, cfg) // the configured files define vip again
	_, got := r.call(t, "GET", "/v1/lists/vip", "", "", nil)
	list := got["list"].(map[string]any)
	if vals, _ := json.Marshal(list["values"]); list["origin"] == "api" || string(vals) != `["a","b"]` {
		t.Errorf("vip after the restart: %v; want the files' list", got)
	}
	if status, body := r.call(t, "DELETE", "/v1/lists/vip", "", "", nil); status != http.StatusConflict {
		t.Errorf("DELETE of a file's list: %d %v; want 409", status, body)
	}
	r.putRules(t, withList+`  - name: uses-other
    key: card
    where: card in lists.other
    threshold: {window: 1m, condition: count() >= 1}
`)
	if status, body := r.call(t, "DELETE", "/v1/lists/other", "", "", nil); status != http.StatusConflict ||
		!strings.Contains(body["error"].(map[string]any)["message"].(string), "used by the running rules") {
		t.Errorf("DELETE of a list a rule uses: %d %v; want 409", status, body)
	}
	r.putRules(t, withList)
	if status, body := r.call(t, "DELETE", "/v1/lists/other", "", "", nil); status != 200 {
		t.Errorf("DELETE of an API list: %d %v", status, body)
	}
	if status, _ := r.call(t, "GET", "/v1/lists/other", "", "", nil); status != 404 {
		t.Errorf("GET of a deleted list: %d; want 404", status)
	}
	if status, _ := r.call(t, "DELETE", "/v1/lists/nope", "", "", nil); status != 404 {
		t.Errorf("DELETE of an unknown list: %d; want 404", status)
	}
}
