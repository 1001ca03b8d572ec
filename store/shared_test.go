package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vigilhq/vigil/store"
	"github.com/vigilhq/vigil/store/storetest"
)

// TestSharedSuite runs the suite ClickHouse runs too, on the same alerts.
func TestSharedSuite(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "alerts.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	storetest.Run(t, s)
}
