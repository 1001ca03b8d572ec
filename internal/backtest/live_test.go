package backtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// TestLiveAlertsReadsEveryPage: the range, the token and the cursor go to
// the API; every page comes back.
func TestLiveAlertsReadsEveryPage(t *testing.T) {
	pages := map[string][]cep.Alert{
		"":   {{ID: "a3", Rule: "r", Time: time.UnixMilli(3)}, {ID: "a2", Rule: "r", Time: time.UnixMilli(2)}},
		"c2": {{ID: "a1", Rule: "r", Time: time.UnixMilli(1)}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("Authorization") != "Bearer tok" || q.Get("from") != "1" || q.Get("to") != "10" || r.URL.Path != "/v1/alerts" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		next := ""
		if q.Get("cursor") == "" {
			next = "c2"
		}
		json.NewEncoder(w).Encode(map[string]any{"alerts": pages[q.Get("cursor")], "next_cursor": next})
	}))
	defer srv.Close()
	got, err := LiveAlerts(t.Context(), srv.URL, "tok", time.UnixMilli(1), time.UnixMilli(10))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "a3" || got[2].ID != "a1" {
		t.Fatalf("LiveAlerts = %+v", got)
	}
	if _, err := LiveAlerts(t.Context(), srv.URL, "wrong", time.UnixMilli(1), time.UnixMilli(10)); err == nil {
		t.Fatal("a refused request gave no error")
	}
}
