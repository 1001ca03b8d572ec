package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ev(id string, ms int64, card, status string) string {
	return fmt.Sprintf(`{"id":%q,"ts":%d,"card":%q,"status":%q}`, id, ms, card, status)
}

const t0 = int64(1795169045000) // 2026-11-20T10:04:05Z

func TestHTTPIngestAcceptsGoodItemsAndRejectsBadOnes(t *testing.T) {
	cfg := testConfig(t, velocityRules)
	cfg.Limits.MaxBodySize = 4096
	cfg.Limits.MaxEventsPerRequest = 50
	r := start(t, cfg)

	// An array with two bad items among good ones.
	status, resp := r.post(t, "["+strings.Join([]string{
		ev("e1", t0, "c1", "declined"),
		`{"card":"c1","status":"declined"}`,
		ev("e2", t0+1000, "c1", "declined"),
		`"not an object"`,
	}, ",")+"]")
	if status != http.StatusOK || resp["accepted"] != 2.0 {
		t.Fatalf("array: status %d, %v", status, resp)
	}
	rejected := resp["rejected"].([]any)
	if len(rejected) != 2 || rejected[0].(map[string]any)["index"] != 1.0 || rejected[0].(map[string]any)["reason"] != "no_time" ||
		rejected[1].(map[string]any)["index"] != 3.0 || rejected[1].(map[string]any)["reason"] != "malformed" {
		t.Errorf("array rejections = %v", rejected)
	}

	// NDJSON with a broken line and a late event (time below the watermark).
	status, resp = r.post(t, ev("e3", t0+2000, "c1", "declined")+"\n{broken\n"+ev("old", t0-60000, "c1", "declined")+"\n")
	if status != http.StatusOK || resp["accepted"] != 1.0 || len(resp["rejected"].([]any)) != 2 {
		t.Fatalf("ndjson: status %d, %v", status, resp)
	}
	if reason := resp["rejected"].([]any)[1].(map[string]any)["reason"]; reason != "late" {
		t.Errorf("old event rejected for %v; want late", reason)
	}

	// A single pretty-printed object.
	status, resp = r.post(t, "{\n  \"id\": \"e4\",\n  \"ts\": "+fmt.Sprint(t0+3000)+",\n  \"card\": \"c2\",\n  \"status\": \"ok\"\n}")
	if status != http.StatusOK || resp["accepted"] != 1.0 {
		t.Fatalf("single object: status %d, %v", status, resp)
	}

	// Nothing acceptable: 400, still per item.
	status, resp = r.post(t, `[{"x":1}]`)
	if status != http.StatusBadRequest || resp["accepted"] != 0.0 {
		t.Errorf("all bad: status %d, %v", status, resp)
	}
	// Over the body limit: 413 with an error object.
	status, resp = r.post(t, "["+strings.Repeat(ev("big", t0, "c9", "ok")+",", 100)+ev("big", t0, "c9", "ok")+"]")
	if status != http.StatusRequestEntityTooLarge || resp["error"].(map[string]any)["code"] != "body_too_large" {
		t.Errorf("too large: status %d, %v", status, resp)
	}

	// Over the item limit, even of tiny lines: 413 before any work.
	status, resp = r.post(t, strings.Repeat("1\n", 200))
	if status != http.StatusRequestEntityTooLarge || resp["error"].(map[string]any)["code"] != "too_many_events" {
		t.Errorf("too many events: status %d, %v", status, resp)
	}

	// The three declines of c1 raise one alert, on stdout and in the API.
	eventually(t, 5*time.Second, "the velocity alert in the API", func() bool { return len(r.alerts(t, "rule=velocity")) == 1 })
	a := r.alerts(t, "rule=velocity")[0]
	if a.Key != "c1" || strings.Join(a.EventIDs, ",") != "e1,e2,e3" || a.Summary != "3 declines on c1" {
		t.Errorf("alert = %+v", a)
	}
	eventually(t, 5*time.Second, "the alert on stdout", func() bool { return strings.Contains(r.stdout.String(), a.ID) })

	// Every rejected item is in the dead-letter file with its reason.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(cfg.DataDir, "dead-letter.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var reasons []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct{ Reason, Raw string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		reasons = append(reasons, rec.Reason)
	}
	if got := strings.Join(reasons, ","); got != "no_time,malformed,malformed,late,no_time" {
		t.Errorf("dead-letter reasons = %s", got)
	}
}

func TestAPIErrorsAreConsistent(t *testing.T) {
	r := start(t, testConfig(t, velocityRules))
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/alerts/nope", 404, "not_found"},
		{"/v1/alerts?from=yesterday", 400, "invalid_argument"},
		{"/v1/alerts?cursor=garbage", 400, "invalid_argument"},
		{"/v1/alerts?limit=-3", 400, "invalid_argument"},
		{"/v1/nothing", 404, "not_found"},
		{"/v1/events", 405, "method_not_allowed"},
	} {
		resp, err := http.Get(r.url + c.path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || body.Error.Code != c.code || body.Error.Message == "" {
			t.Errorf("GET %s = %d %+v; want %d %s with a message", c.path, resp.StatusCode, body.Error, c.status, c.code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(r.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d; want 200", path, resp.StatusCode)
		}
	}
}
