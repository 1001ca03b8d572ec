package sinks

import "testing"

func TestIDSet(t *testing.T) {
	type op struct {
		add, has string
		want     bool
	}
	tests := []struct {
		name string
		max  int
		ops  []op
	}{
		{"holds what fits", 3, []op{{add: "a"}, {add: "b"}, {add: "c"}, {has: "a", want: true}, {has: "c", want: true}, {has: "d"}}},
		{"evicts least recently added", 2, []op{{add: "a"}, {add: "b"}, {add: "c"}, {has: "a"}, {has: "b", want: true}, {has: "c", want: true}}},
		{"a lookup refreshes", 2, []op{{add: "a"}, {add: "b"}, {has: "a", want: true}, {add: "c"}, {has: "b"}, {has: "a", want: true}}},
		{"re-adding refreshes", 2, []op{{add: "a"}, {add: "b"}, {add: "a"}, {add: "c"}, {has: "b"}, {has: "a", want: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDSet(tt.max)
			for _, o := range tt.ops {
				if o.add != "" {
					s.Add(o.add)
					continue
				}
				if got := s.Contains(o.has); got != o.want {
					t.Errorf("Contains(%q) = %v; want %v", o.has, got, o.want)
				}
			}
			if s.Len() > tt.max {
				t.Errorf("Len() = %d; want ≤ %d", s.Len(), tt.max)
			}
		})
	}
	if s := newIDSet(0); s.max != DefaultDedupeSize {
		t.Errorf("newIDSet(0).max = %d; want %d", s.max, DefaultDedupeSize)
	}
}

func TestDedupeClaims(t *testing.T) {
	d := newDedupe(10)
	if st, _ := d.tryClaim("x"); st != claimed {
		t.Fatalf("tryClaim(x) = %d; want claimed (%d)", st, claimed)
	}
	st, ch := d.tryClaim("x")
	if st != busy {
		t.Fatalf("tryClaim(x) while in flight = %d; want busy (%d)", st, busy)
	}
	select {
	case <-ch:
		t.Fatal("busy channel closed before the write ended")
	default:
	}
	d.end("x", false) // the write failed: x may be claimed again
	<-ch
	if st, _ := d.tryClaim("x"); st != claimed {
		t.Fatalf("tryClaim(x) after a failed write = %d; want claimed (%d)", st, claimed)
	}
	d.end("x", true)
	if st, _ := d.tryClaim("x"); st != written {
		t.Errorf("tryClaim(x) after a write = %d; want written (%d)", st, written)
	}
	if len(d.inflight) != 0 {
		t.Errorf("inflight = %v; want empty", d.inflight)
	}
	// Empty ids are never de-duplicated.
	for range 2 {
		if st, _ := d.tryClaim(""); st != claimed {
			t.Errorf(`tryClaim("") = %d; want claimed (%d)`, st, claimed)
		}
		d.end("", true)
	}
}
