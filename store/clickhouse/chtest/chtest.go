// Package chtest finds the ClickHouse server tests run against and gives
// each test a database of its own.
package chtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// AddrEnv names the environment variable with the address (host:port,
// native protocol) of the server; scripts/test.sh starts one and sets it.
const AddrEnv = "VIGIL_CLICKHOUSE_ADDR"

// Addr returns the server's addresses. Without one the test is skipped
// on a developer's machine and fails under CI (CI=true), where a skipped
// suite would hide a broken set-up.
func Addr(t testing.TB) []string {
	t.Helper()
	addr := os.Getenv(AddrEnv)
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set under CI: scripts/test.sh starts ClickHouse and sets it", AddrEnv)
		}
		t.Skipf("no ClickHouse: set %s=host:port (scripts/test.sh starts one and sets it)", AddrEnv)
	}
	return strings.Split(addr, ",")
}

var seq atomic.Int64

// Database names a database for one test, dropped when the test ends.
func Database(t testing.TB, addr []string) string {
	t.Helper()
	name := fmt.Sprintf("vigil_test_%d_%d", os.Getpid(), seq.Add(1))
	t.Cleanup(func() {
		conn, err := ch.Open(&ch.Options{Addr: addr})
		if err != nil {
			t.Errorf("dropping %s: %v", name, err)
			return
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
	})
	return name
}
