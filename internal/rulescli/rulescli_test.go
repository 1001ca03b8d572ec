package rulescli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/internal/serve"
)

const rulesV1 = `rules:
  - name: declines
    key: card
    severity: low
    threshold:
      where: status == "declined"
      window: 10m
      condition: count() >= 3
`

// startService runs a real service on a free port with rulesV1 and an
// admin token, and returns its URL.
func startService(t *testing.T) (url, dir string) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesV1), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := serve.Default()
	cfg.Rules = []string{path}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Store.Path = filepath.Join(cfg.DataDir, "alerts.db")
	cfg.Checkpoint.Dir = filepath.Join(cfg.DataDir, "checkpoints")
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Sinks.Stdout = false
	h := sha256.Sum256([]byte("s3cret"))
	cfg.Auth.Tokens = []serve.TokenConfig{{Name: "ops", Scope: "admin", SHA256: hex.EncodeToString(h[:])}}
	svc, err := serve.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + svc.Addr(), dir
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRulesCommandsAgainstAService(t *testing.T) {
	url, dir := startService(t)
	t.Setenv("VIGIL_URL", url)
	edited := filepath.Join(dir, "edited.yaml")
	os.WriteFile(edited, []byte(strings.Replace(rulesV1, "severity: low", "severity: high", 1)), 0o644)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte(strings.Replace(rulesV1, "count() >= 3", "count() >=", 1)), 0o644)

	// Without a token: refused, with a hint.
	if code, _, stderr := run(t, "push", edited); code != 1 || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "VIGIL_TOKEN") {
		t.Errorf("push without a token: %d %q", code, stderr)
	}
	t.Setenv("VIGIL_TOKEN", "s3cret")
	cases := []struct {
		args     []string
		code     int
		out, err string // substrings
	}{
		{[]string{"push", broken}, 1, "", "broken.yaml:8:"},
		{[]string{"push", edited}, 0, "applied as version 2\n  changed (presentation):  declines", ""},
		{[]string{"diff", "--against", "1", edited}, 0, "against version 1:\n  changed (presentation):  declines", ""},
		{[]string{"diff", edited}, 0, "no rule changed (1 unchanged)", ""},
		{[]string{"rollback", "1"}, 0, "version 1's files applied as version 3", ""},
		{[]string{"versions"}, 0, "3        ", ""},
		{[]string{"rollback", "99"}, 1, "", "404 not_found"},
		{[]string{"rollback"}, 2, "", "name one version"},
		{[]string{"push"}, 2, "", "name the rules files"},
		{[]string{"nope"}, 2, "", `unknown subcommand "nope"`},
		{[]string{"versions", "--server", "http://127.0.0.1:1"}, 1, "", "is vigil serve running there?"},
	}
	for _, tc := range cases {
		code, out, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(stderr, tc.err) {
			t.Errorf("vigil rules %s: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout ∋ %q, stderr ∋ %q",
				strings.Join(tc.args, " "), code, out, stderr, tc.code, tc.out, tc.err)
		}
	}
}
