package clickhouse

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vigilhq/vigil/store/clickhouse/chtest"
)

func testAddr(t testing.TB) []string { return chtest.Addr(t) }

// openTest opens a fresh database for one test, dropped afterwards.
func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	cfg.Addr = testAddr(t)
	cfg.Database = chtest.Database(t, cfg.Addr)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}
