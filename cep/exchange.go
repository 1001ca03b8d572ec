package cep

import "strconv"

// keyGroup returns the key group of a key: Kafka's default partitioner
// (murmur2 of the key's bytes, made positive, modulo n), so that a
// repartition topic with one partition per key group, produced with the
// standard partitioner, lines up with the groups.
func keyGroup(key string, n int) int {
	if n == 1 {
		return 0
	}
	return int(murmur2(key)&0x7fffffff) % n
}

// murmur2 is the 32-bit MurmurHash2 with Kafka's seed, as in
// org.apache.kafka.common.utils.Utils.murmur2.
func murmur2(data string) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// wakeEntry registers a key group's earliest timer.
type wakeEntry struct {
	at int64
	kg int
}

// wakeHeap is a min-heap of key groups by the time of their earliest
// timer, so a step finds the groups with timers due without looking at
// every group. Entries go stale when a group's timers change; a group
// records the time it is registered under, and a stale entry is skipped.
type wakeHeap []wakeEntry

func (h *wakeHeap) push(x wakeEntry) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p].at <= a[i].at {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *wakeHeap) pop() wakeEntry {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, s := 2*i+1, i
		if l < n && a[l].at < a[s].at {
			s = l
		}
		if l+1 < n && a[l+1].at < a[s].at {
			s = l + 1
		}
		if s == i {
			break
		}
		a[i], a[s] = a[s], a[i]
		i = s
	}
	*h = a
	return top
}

func itoa(i int) string { return strconv.Itoa(i) }
