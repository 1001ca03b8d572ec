package cep

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/wire"
)

type rawFrame struct {
	kind    byte
	payload []byte
}

func readFrames(t testing.TB, b []byte) []rawFrame {
	r := wire.NewReader(bytes.NewReader(b))
	var out []rawFrame
	for {
		k, p, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rawFrame{k, append([]byte(nil), p...)})
	}
}

func writeFrames(fs []rawFrame) []byte {
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	for _, f := range fs {
		_ = w.Frame(f.kind, f.payload)
	}
	_ = w.Flush()
	return buf.Bytes()
}

// restoreAndRun restores data into a fresh engine and drives it; it reports
// a panic or a hang.
func restoreAndRun(data []byte, rulesYAML string, t testing.TB) (res string) {
	done := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		ctx := context.Background()
		eng, err := New(mustLoad(t, rulesYAML))
		if err != nil {
			done <- "new: " + err.Error()
			return
		}
		if _, err := eng.Restore(ctx, bytes.NewReader(data)); err == nil {
			for _, ev := range randomEvents(8, 50, 8) {
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				_ = eng.Process(pctx, ev)
				cancel()
			}
			_ = eng.AdvanceWatermark(ctx, EndOfTime)
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := eng.Close(cctx); err != nil {
				cancel()
				done <- "close: " + err.Error()
				return
			}
			cancel()
			done <- "accepted"
			return
		}
		_ = eng.Close(ctx)
		done <- "rejected"
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		return "hang"
	}
}

// Structured mutations: one field of one frame changed, checksums valid.
func TestRestoreStructuredMutations(t *testing.T) {
	if os.Getenv("REVIEW_FUZZ") == "" {
		t.Skip("set REVIEW_FUZZ=n")
	}
	n, _ := strconv.Atoi(os.Getenv("REVIEW_FUZZ"))
	snap := snapshotOf(t, randomEvents(7, 200, 6))
	frames := readFrames(t, snap)
	r := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		fs := make([]rawFrame, len(frames))
		copy(fs, frames)
		j := 1 + r.IntN(len(fs)-2)
		p := append([]byte(nil), fs[j].payload...)
		if len(p) == 0 {
			continue
		}
		switch r.IntN(3) {
		case 0:
			p[r.IntN(len(p))] ^= byte(1 << r.IntN(8))
		case 1:
			p[r.IntN(len(p))] = byte(r.IntN(256))
		case 2:
			k := r.IntN(len(p))
			p[k] = 0
		}
		fs[j].payload = p
		res := restoreAndRun(writeFrames(fs), mixedRules, t)
		key := res
		if len(key) > 60 {
			key = key[:60]
		}
		counts[key]++
		if res != "accepted" && res != "rejected" && counts[key] == 1 {
			t.Errorf("mutation %d of frame %d (%q): %s", i, j, fs[j].kind, res)
		}
	}
	t.Logf("%v", counts)
}
