package health_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilhq/vigil/internal/health"
)

// Each part registers a check under its name; a report names them all.
func Example() {
	var reg health.Registry
	reg.Register("rules", func(context.Context) error { return nil })
	reg.Register("clickhouse", func(context.Context) error { return errors.New("dial tcp 127.0.0.1:9000: connection refused") })
	rep := reg.Check(context.Background())
	fmt.Println(rep.Status)
	for _, c := range rep.Components {
		fmt.Println(strings.TrimSpace(c.Name + ": " + c.State + " " + c.Reason))
	}
	// Output:
	// not_ready
	// rules: ready
	// clickhouse: not_ready dial tcp 127.0.0.1:9000: connection refused
}
