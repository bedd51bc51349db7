package rollup

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// countBy is the model's count of the events sel selects in [from, to],
// grouped by group.
func (m *model) countBy(sel Selection, from, to int64, group func(dims) uint32) map[uint32]int64 {
	out := map[uint32]int64{}
	i, _ := slices.BinarySearchFunc(m.sorted, from, func(d dims, t int64) int { return cmp.Compare(d.t, t) })
	for ; i < len(m.sorted) && m.sorted[i].t <= to; i++ {
		d := m.sorted[i]
		if m.selects(sel, d) && m.n[d] != 0 {
			out[group(d)] += m.n[d]
		}
	}
	for k, n := range out {
		if n == 0 {
			delete(out, k)
		}
	}
	return out
}

func byKind(d dims) uint32   { return d.kind }
func byDevice(d dims) uint32 { return d.dev }

func TestHoursByKindLayout(t *testing.T) {
	c := New()
	ev := func(t int64, site, kind uint32, n int64) Delta {
		return Delta{TimeMS: t, Site: site, Device: site, Kind: kind, N: n}
	}
	mustApply(t, c, 4, []Delta{
		ev(at(d0, 10, 30), 1, 2, 2),
		ev(at(d0, 10, 40), 2, 1, 1),
		ev(at(d0, 11, 5), 1, 1, 1),
		ev(at(d0+1, 2, 0), 1, 3, 1),
	})
	kb := func(b Bucket, kinds ...KindCount) KindBucket { return KindBucket{Bucket: b, Kinds: kinds} }
	tests := []struct {
		name     string
		sel      Selection
		from, to int64
		want     []KindBucket
	}{
		{"whole hours", Selection{}, at(d0, 10, 0), at(d0, 12, 0) - 1,
			[]KindBucket{kb(hour(d0, 10, 3), KindCount{1, 1}, KindCount{2, 2}), kb(hour(d0, 11, 1), KindCount{1, 1})}},
		{"partial edges across midnight", Selection{}, at(d0, 10, 35), at(d0+1, 2, 30),
			[]KindBucket{kb(partial(at(d0, 10, 35), at(d0, 11, 0)-1)), kb(hour(d0, 11, 1), KindCount{1, 1}), kb(partial(at(d0+1, 2, 0), at(d0+1, 2, 30)))}},
		{"inside one hour", Selection{}, at(d0, 10, 35), at(d0, 10, 45),
			[]KindBucket{kb(partial(at(d0, 10, 35), at(d0, 10, 45)))}},
		{"site", Selection{Sites: []uint32{2}}, at(d0, 0, 0), at(d0+2, 0, 0) - 1,
			[]KindBucket{kb(hour(d0, 10, 1), KindCount{1, 1})}},
		{"kind", Selection{Kinds: []uint32{2, 3}}, math.MinInt64, math.MaxInt64,
			[]KindBucket{kb(hour(d0, 10, 2), KindCount{2, 2}), kb(hour(d0+1, 2, 1), KindCount{3, 1})}},
		{"devices", Selection{Devices: []uint32{1}}, at(d0, 0, 0), at(d0, 1, 0),
			[]KindBucket{kb(partial(at(d0, 0, 0), at(d0, 1, 0)))}},
		{"empty window", Selection{}, at(d0, 11, 0), at(d0, 10, 0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, seq := c.HoursByKind(tt.sel, tt.from, tt.to)
			if !slices.EqualFunc(got, tt.want, func(a, b KindBucket) bool { return a.Bucket == b.Bucket && slices.Equal(a.Kinds, b.Kinds) }) || seq != 4 {
				t.Errorf("HoursByKind:\ngot  %+v at seq %d\nwant %+v at seq 4", got, seq, tt.want)
			}
		})
	}
}

func TestDaysByDeviceLayout(t *testing.T) {
	c := New()
	ev := func(t int64, site, dev, kind uint32) Delta {
		return Delta{TimeMS: t, Site: site, Device: dev, Kind: kind, N: 1}
	}
	mustApply(t, c, 6, []Delta{
		ev(at(d0, 10, 30), 1, 1, 1),
		ev(at(d0, 13, 0), 1, 2, 2),
		ev(at(d0+1, 5, 0), 1, 1, 1),
		ev(at(d0+1, 6, 0), 2, 3, 1),
		ev(at(d0+2, 1, 0), 1, 2, 1),
		ev(at(d0+2, 1, 10), 1, 2, 2),
		ev(at(d0+2, 2, 0), 0, 0, 3), // a server event
	})
	tests := []struct {
		name     string
		sel      Selection
		from, to int64
		sums     map[uint32]int64
		rest     []Bucket
	}{
		{"whole days", Selection{}, at(d0, 0, 0), at(d0+2, 0, 0) - 1,
			map[uint32]int64{1: 2, 2: 1, 3: 1}, nil},
		{"open", Selection{Kinds: []uint32{1}}, math.MinInt64, math.MaxInt64,
			map[uint32]int64{1: 2, 2: 1, 3: 1}, nil},
		{"partial days narrowed to hours", Selection{}, at(d0, 10, 45), at(d0+2, 1, 5),
			map[uint32]int64{1: 1, 3: 1},
			[]Bucket{partial(at(d0, 10, 45), at(d0, 11, 0)-1), partial(at(d0, 13, 0), at(d0, 14, 0)-1), partial(at(d0+2, 1, 0), at(d0+2, 1, 5))}},
		{"adjacent edges merge", Selection{Kinds: []uint32{1, 2}}, at(d0, 12, 30), at(d0+1, 0, 30),
			map[uint32]int64{},
			[]Bucket{partial(at(d0, 12, 30), at(d0, 14, 0)-1), partial(at(d0+1, 0, 0), at(d0+1, 0, 30))}},
		{"partial hours meet at midnight", Selection{}, at(d0, 23, 30), at(d0+1, 0, 30),
			map[uint32]int64{},
			[]Bucket{partial(at(d0, 23, 30), at(d0+1, 0, 30))}},
		{"site and kind", Selection{Sites: []uint32{1}, Kinds: []uint32{2}}, at(d0, 0, 0), at(d0+2, 12, 0),
			map[uint32]int64{2: 1},
			[]Bucket{partial(at(d0+2, 1, 0), at(d0+2, 2, 0)-1), partial(at(d0+2, 12, 0), at(d0+2, 12, 0))}},
		{"devices keep whole partial days", Selection{Devices: []uint32{2, 3}}, at(d0, 12, 0), at(d0+2, 3, 0),
			map[uint32]int64{3: 1},
			[]Bucket{partial(at(d0, 12, 0), at(d0+1, 0, 0)-1), partial(at(d0+2, 0, 0), at(d0+2, 3, 0))}},
		{"devices, two partial days merge", Selection{Devices: []uint32{2}}, at(d0, 12, 0), at(d0+1, 3, 0),
			map[uint32]int64{},
			[]Bucket{partial(at(d0, 12, 0), at(d0+1, 3, 0))}},
		{"server events", Selection{Sites: []uint32{0}}, at(d0+2, 0, 0), at(d0+3, 0, 0) - 1,
			map[uint32]int64{0: 1}, nil},
		{"empty window", Selection{}, at(d0, 11, 0), at(d0, 10, 0), map[uint32]int64{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums, rest, seq := c.DaysByDevice(tt.sel, tt.from, tt.to)
			if !maps.Equal(sums, tt.sums) || !slices.Equal(rest, tt.rest) || seq != 6 {
				t.Errorf("DaysByDevice:\ngot  %v %+v at seq %d\nwant %v %+v at seq 6", sums, rest, seq, tt.sums, tt.rest)
			}
		})
	}
}

// TestGroupsMatchModel holds HoursByKind and DaysByDevice to the
// brute-force model over random events, deletions, selections and windows:
// the exact parts plus the model's count of the parts left to the caller
// are the window's count, split the same way.
func TestGroupsMatchModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 11))
			c, m := New(), newModel()
			seq := int64(0)
			for range 20 {
				deltas := randomDeltas(r, m, 1+r.IntN([]int{10, 60, 300}[r.IntN(3)]))
				seq += int64(r.IntN(3))
				mustApply(t, c, seq, deltas)
				m.index()
				for range 25 {
					sel := randomSelection(r)
					from, to := randomWindow(r, m)
					if r.IntN(20) == 0 {
						from, to = to, from
					}
					if r.IntN(2) == 0 {
						sel.Devices = nil
					}
					checkHoursByKind(t, c, m, sel, from, to)
					checkDaysByDevice(t, c, m, sel, from, to)
				}
			}
		})
	}
}

func checkHoursByKind(t testing.TB, c *Counts, m *model, sel Selection, from, to int64) {
	t.Helper()
	bs, seq := c.HoursByKind(sel, from, to)
	where := fmt.Sprintf("HoursByKind(%+v, %d, %d) = %+v", sel, from, to, bs)
	if seq != c.Seq() {
		t.Fatalf("%s: seq %d, want %d", where, seq, c.Seq())
	}
	if from > to {
		if len(bs) != 0 {
			t.Fatalf("%s: want no buckets for an empty window", where)
		}
		return
	}
	got := map[uint32]int64{}
	cur := from
	for i, b := range bs {
		if b.FromMS < cur || b.FromMS > b.ToMS || b.ToMS > to || (i > 0 && bs[i-1].ToMS == math.MaxInt64) {
			t.Fatalf("%s: bucket %+v out of order or outside the window", where, b.Bucket)
		}
		if b.Exact {
			whole := func(w int64) bool { return refStart(b.FromMS, w) == b.FromMS && refEnd(b.FromMS, w) == b.ToMS }
			if sel.Devices != nil || !whole(hourMS) && !slices.ContainsFunc(fineWidths[:], whole) {
				t.Fatalf("%s: exact bucket %+v is not a whole hour or finer bucket", where, b.Bucket)
			}
			want := m.countBy(sel, b.FromMS, b.ToMS, byKind)
			var n int64
			for j, k := range b.Kinds {
				if k.N == 0 || want[k.Kind] != k.N || (j > 0 && b.Kinds[j-1].Kind >= k.Kind) {
					t.Fatalf("%s: bucket %+v: kinds %v, want %v in kind order without zeros", where, b.Bucket, b.Kinds, want)
				}
				n += k.N
				got[k.Kind] += k.N
			}
			if len(b.Kinds) != len(want) || n != b.N || n == 0 {
				t.Fatalf("%s: bucket %+v: kinds %v, want %v (and N their sum, not 0)", where, b.Bucket, b.Kinds, want)
			}
		} else {
			if b.Kinds != nil || b.N != 0 {
				t.Fatalf("%s: non-exact bucket %+v has counts", where, b)
			}
			if sel.Devices == nil && (b.FromMS != from && b.ToMS != to || refStart(b.FromMS, hourMS) != refStart(b.ToMS, hourMS)) {
				t.Fatalf("%s: non-exact bucket %+v is not a partial hour at an edge", where, b.Bucket)
			}
			for k, n := range m.countBy(sel, b.FromMS, b.ToMS, byKind) {
				got[k] += n
			}
		}
		if b.ToMS != math.MaxInt64 {
			cur = b.ToMS + 1
		}
	}
	if want := m.countBy(sel, from, to, byKind); !maps.Equal(got, want) {
		t.Fatalf("%s: the buckets hold %v by kind, want %v", where, got, want)
	}
}

func checkDaysByDevice(t testing.TB, c *Counts, m *model, sel Selection, from, to int64) {
	t.Helper()
	sums, rest, seq := c.DaysByDevice(sel, from, to)
	where := fmt.Sprintf("DaysByDevice(%+v, %d, %d) = %v, %+v", sel, from, to, sums, rest)
	if seq != c.Seq() {
		t.Fatalf("%s: seq %d, want %d", where, seq, c.Seq())
	}
	got := maps.Clone(sums)
	for d, n := range sums {
		if n == 0 {
			t.Fatalf("%s: a zero sum for device %d", where, d)
		}
	}
	for i, b := range rest {
		if b.Exact || b.N != 0 || b.FromMS > b.ToMS || b.FromMS < from || b.ToMS > to {
			t.Fatalf("%s: rest %+v is not a non-exact range of the window", where, b)
		}
		if i > 0 && (rest[i-1].ToMS == math.MaxInt64 || rest[i-1].ToMS+1 >= b.FromMS) {
			t.Fatalf("%s: rest %+v is out of order, overlapping or adjacent to the one before", where, b)
		}
		// Only the partial days at the edges are left to the caller.
		for _, ms := range []int64{b.FromMS, b.ToMS} {
			if from <= refStart(ms, dayMS) && refEnd(ms, dayMS) <= to {
				t.Fatalf("%s: rest %+v is in a day wholly in the window", where, b)
			}
		}
		for d, n := range m.countBy(sel, b.FromMS, b.ToMS, byDevice) {
			got[d] += n
		}
	}
	want := m.countBy(sel, from, to, byDevice)
	if from > to {
		want = map[uint32]int64{}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("%s: sums and rest hold %v by device, want %v", where, got, want)
	}
}

// BenchmarkHoursByKind is the counts' part of an events-per-hour chart at
// 10 million events: 24 hours and 31 days, not on hour boundaries.
func BenchmarkHoursByKind(b *testing.B) {
	c := atScale(b)
	end := scaleEndMS - 10*dayMS + 7*hourMS + 1234
	for _, tc := range []struct {
		name string
		sel  Selection
		span int64
	}{
		{"all/24h", Selection{}, dayMS},
		{"all/31d", Selection{}, 31 * dayMS},
		{"sites/31d", Selection{Sites: []uint32{1, 2, 3}}, 31 * dayMS},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				bs, _ := c.HoursByKind(tc.sel, end-tc.span, end)
				n = len(bs)
			}
			b.ReportMetric(float64(n), "buckets")
		})
	}
}

// BenchmarkDaysByDevice is the counts' part of a denials-by-device chart
// and of the devices view's "today" at 10 million events.
func BenchmarkDaysByDevice(b *testing.B) {
	c := atScale(b)
	end := scaleEndMS - 10*dayMS + 7*hourMS + 1234
	denials := []uint32{kDeniedCard, kDeniedIdentifier, kDeniedCode, kDeniedFace}
	for _, tc := range []struct {
		name string
		sel  Selection
		span int64
	}{
		{"denials/24h", Selection{Kinds: denials}, dayMS},
		{"denials/31d", Selection{Kinds: denials}, 31 * dayMS},
		{"denials/axis", Selection{Kinds: denials}, 0},
		{"sites+denials/31d", Selection{Sites: []uint32{1, 2, 3}, Kinds: denials}, 31 * dayMS},
		{"devices+denials/31d", Selection{Devices: []uint32{1, 2, 3}, Kinds: denials}, 31 * dayMS},
	} {
		b.Run(tc.name, func(b *testing.B) {
			from, to := end-tc.span, end
			if tc.span == 0 {
				from, to = math.MinInt64, math.MaxInt64
			}
			var n, r int
			for b.Loop() {
				sums, rest, _ := c.DaysByDevice(tc.sel, from, to)
				n, r = len(sums), len(rest)
			}
			b.ReportMetric(float64(n), "devices")
			b.ReportMetric(float64(r), "ranges")
		})
	}
}
