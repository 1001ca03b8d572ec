package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/cep"
)

// BenchmarkWriteBatch measures alerts/s into a store file on disk
// (b.TempDir, synchronous=FULL as Open configures it: one fsync per
// commit) by batch size. Every alert is new. One op is one WriteBatch.
//
//	go test -run=NONE -bench=WriteBatch -benchtime=2s ./store/
func BenchmarkWriteBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := openTemp(b, Options{})
			ctx := context.Background()
			tmpl := mk("", "card-testing", "", "high", 0, false)
			tmpl.Matched = map[string][]map[string]any{ // a realistic body, ~1 KB
				"probe": {{"id": "e1", "amount": 1.0}, {"id": "e2", "amount": 0.5}, {"id": "e3", "amount": 2.0}},
				"big":   {{"id": "e4", "amount": 900.0, "merchant": "m-77", "country": "DE"}},
			}
			batch := make([]cep.Alert, size)
			n := 0
			for b.Loop() {
				for i := range batch {
					a := tmpl
					a.ID = strconv.FormatInt(int64(n), 16)
					a.Key = "card-" + strconv.Itoa(n%1000)
					a.Time, a.DetectedAt = at(int64(n)), at(int64(n)+1500)
					batch[i] = a
					n++
				}
				if err := s.WriteBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}
