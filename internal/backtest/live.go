package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhq/vigil/cep"
)

// LiveAlerts reads the alerts a running service raised with from <= time
// < to, through its API (GET /v1/alerts, every page); token, when set, is
// sent as the bearer token.
func LiveAlerts(ctx context.Context, server, token string, from, to time.Time) ([]cep.Alert, error) {
	client := &http.Client{Timeout: 60 * time.Second}
	q := url.Values{"from": {strconv.FormatInt(from.UnixMilli(), 10)}, "to": {strconv.FormatInt(to.UnixMilli(), 10)}, "limit": {"1000"}}
	var out []cep.Alert
	for {
		u := strings.TrimRight(server, "/") + "/v1/alerts?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("live alerts: is vigil serve running at %s? %w", server, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("live alerts: GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
		}
		var page struct {
			Alerts     []cep.Alert `json:"alerts"`
			NextCursor string      `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("live alerts: %w", err)
		}
		out = append(out, page.Alerts...)
		if page.NextCursor == "" || len(page.Alerts) == 0 {
			return out, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}
