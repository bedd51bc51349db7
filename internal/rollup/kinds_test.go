package rollup

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestManyKinds holds the counts to the brute-force model with kind, site
// and device codes far past the 4096 kinds and 2^20 sites that once fitted
// a packed key: a store whose senders invent thousands of keys numbers
// thousands of kinds, and every one must be counted exactly, by every
// query, before and after a snapshot.
func TestManyKinds(t *testing.T) {
	spread := func(n int, kind func(i int) uint32, dev func(i int) uint32) func(r *rand.Rand) []dims {
		return func(r *rand.Rand) []dims {
			out := make([]dims, n)
			for i := range out {
				d := dev(i)
				out[i] = dims{t: at(d0, 0, 0) + r.Int64N(3*dayMS), dev: d, site: siteOf(d), kind: kind(i)}
			}
			return out
		}
	}
	tests := []struct {
		name   string
		events func(r *rand.Rand) []dims
		// kinds are kind selections to check besides the random ones.
		kinds [][]uint32
	}{
		{
			"20,000 kinds of one site",
			spread(20_000, func(i int) uint32 { return uint32(i) }, func(i int) uint32 { return 1 + uint32(i%3) }),
			[][]uint32{{0}, {4095, 4096}, {19_999}, seq(4096, 20_000), seq(0, 20_000)},
		},
		{
			"kinds around 4096 in every site",
			spread(5_000, func(i int) uint32 { return 4090 + uint32(i%12) }, func(i int) uint32 { return uint32(i % 13) }),
			[][]uint32{{4095}, {4096}, seq(4090, 4096), seq(4096, 4102)},
		},
		{
			"largest codes",
			spread(300, func(i int) uint32 { return []uint32{math.MaxUint32, 1, math.MaxUint32 - 1}[i%3] },
				func(i int) uint32 { return []uint32{math.MaxUint32, maxDenseDevice, 2, 0}[i%4] }),
			[][]uint32{{math.MaxUint32}, {1, math.MaxUint32}, {math.MaxUint32 - 1}},
		},
		{
			"sparse kinds",
			spread(3_000, func(i int) uint32 { return uint32(1) << (i % 32) }, func(i int) uint32 { return 1 + uint32(i%12) }),
			[][]uint32{{1 << 16}, {1 << 31, 1}, {1 << 20, 1 << 21, 1 << 22}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 7))
			c, m := New(), newModel()
			events := tt.events(r)
			// Applied in batches the size of a writer's.
			for i := 0; i < len(events); i += 5000 {
				var deltas []Delta
				for _, d := range events[i:min(i+5000, len(events))] {
					m.add(d, 1)
					deltas = append(deltas, Delta{TimeMS: d.t, Site: d.site, Device: d.dev, Kind: d.kind, N: 1})
				}
				mustApply(t, c, int64(i+len(deltas)), deltas)
			}
			m.index()
			loaded := New()
			if err := loaded.UnmarshalBinary(mustMarshal(t, c)); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			for _, counts := range []*Counts{c, loaded} {
				checkInvariants(t, counts)
				var sels []Selection
				for _, k := range tt.kinds {
					sels = append(sels, Selection{Kinds: k}, Selection{Kinds: k, Sites: []uint32{1, math.MaxUint32}},
						Selection{Kinds: k, Devices: []uint32{1, 2, maxDenseDevice, math.MaxUint32}})
				}
				for range 10 {
					sels = append(sels, randomSelection(r))
				}
				sels = append(sels, Selection{})
				for _, sel := range sels {
					if got, want := must2(counts.Total(sel)), m.count(sel, math.MinInt64, math.MaxInt64); got != want {
						t.Fatalf("Total(%v): got %d, want %d", sel, got, want)
					}
					for range 2 {
						from, to := randomWindow(r, m)
						checkBuckets(t, counts, m, sel, from, to)
						checkDaysByDevice(t, counts, m, sel, from, to)
						sel.Devices = nil
						checkHoursByKind(t, counts, m, sel, from, to)
					}
				}
			}
		})
	}
}

// seq returns the codes from lo up to hi, excluded.
func seq(lo, hi uint32) []uint32 {
	out := make([]uint32, 0, hi-lo)
	for k := lo; k < hi; k++ {
		out = append(out, k)
	}
	return out
}

func must2(n, _ int64) int64 { return n }
