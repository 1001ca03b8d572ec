package api

import (
	"net/http/httptest"
	"testing"
)

func TestWrongMethodsAnswer405WithAllow(t *testing.T) {
	h := (&Server{}).Handler()
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v1/events", 405, "POST"},
		{"DELETE", "/v1/alerts/abc", 405, "GET"},
		{"POST", "/v1/alerts", 405, "GET"},
		{"GET", "/nope", 404, ""},
		{"GET", "/v1/alerts/a/b", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.code || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q; want %d %q", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), tc.code, tc.allow)
		}
	}
}
