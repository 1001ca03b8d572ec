package sinks

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vigilhq/vigil/cep"
)

// Throughput of WriteBatch by batch size, in alerts/s: measured, never
// asserted. One op is one WriteBatch of new alerts (testAlert's shape,
// ~450 bytes of JSON).
//
//	go test -run=NONE -bench=WriteBatch -benchtime=2s ./sinks/

// benchBatches calls write with batches of size new alerts until b.Loop
// is done, and reports alerts/s.
func benchBatches(b *testing.B, size int, write func([]cep.Alert) error) {
	batch := make([]cep.Alert, size)
	tmpl := testAlert("", "")
	n := 0
	for b.Loop() {
		for i := range batch {
			a := tmpl
			a.ID = "b" + strconv.FormatInt(int64(n), 16)
			a.Key = "card-" + strconv.Itoa(n%1000)
			batch[i] = a
			n++
		}
		if err := write(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkKafkaWriteBatch writes to an in-process kfake broker (one
// broker, 3 partitions, acks=all), so it measures the sink and kafka-go
// more than the network; the broker shares the benchmark's CPUs.
func BenchmarkKafkaWriteBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			kc := newKafkaCluster(b)
			k := newTestKafka(b, kc, KafkaConfig{})
			ctx := context.Background()
			benchBatches(b, size, func(batch []cep.Alert) error { return k.WriteBatch(ctx, batch) })
		})
	}
}

// BenchmarkFileWriteBatch appends to a file in b.TempDir (written, not
// fsynced, as File does).
func BenchmarkFileWriteBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			f, err := OpenFile(filepath.Join(b.TempDir(), "alerts.ndjson"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close(context.Background()) })
			ctx := context.Background()
			benchBatches(b, size, func(batch []cep.Alert) error { return f.WriteBatch(ctx, batch) })
		})
	}
}
