package rollup

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// dims are the dimensions of one event of the brute-force model.
type dims struct {
	t               int64
	site, dev, kind uint32
}

// model is the brute-force reference: every event, counted the slow way.
type model struct {
	n     map[dims]int64
	order []dims // keys in insertion order, for reproducible picks
	// sorted is the events with a non-zero count ascending by time, rebuilt
	// by index, so that counting a window scans only that window.
	sorted []dims
	// sets caches large selection sets as maps, by their first element's
	// address and length (tests never change a set once made), so that a
	// selection of thousands of kinds costs the model no more than a few.
	sets map[setKey]map[uint32]bool
}

type setKey struct {
	p *uint32
	n int
}

func newModel() *model { return &model{n: map[dims]int64{}, sets: map[setKey]map[uint32]bool{}} }

// in reports whether set (nil: any value) holds v.
func (m *model) in(set []uint32, v uint32) bool {
	if set == nil {
		return true
	}
	if len(set) < 16 {
		return slices.Contains(set, v)
	}
	k := setKey{&set[0], len(set)}
	s, ok := m.sets[k]
	if !ok {
		s = make(map[uint32]bool, len(set))
		for _, x := range set {
			s[x] = true
		}
		m.sets[k] = s
	}
	return s[v]
}

// selects reports whether sel selects an event of dimensions d.
func (m *model) selects(sel Selection, d dims) bool {
	return m.in(sel.Sites, d.site) && m.in(sel.Devices, d.dev) && m.in(sel.Kinds, d.kind)
}

func (m *model) add(d dims, n int64) {
	if _, ok := m.n[d]; !ok {
		m.order = append(m.order, d)
	}
	m.n[d] += n
}

func (m *model) index() {
	m.sorted = m.sorted[:0]
	for _, d := range m.order {
		if m.n[d] != 0 {
			m.sorted = append(m.sorted, d)
		}
	}
	slices.SortFunc(m.sorted, func(a, b dims) int { return cmp.Compare(a.t, b.t) })
}

// count is the number of events sel selects in [from, to].
func (m *model) count(sel Selection, from, to int64) int64 {
	i, _ := slices.BinarySearchFunc(m.sorted, from, func(d dims, t int64) int { return cmp.Compare(d.t, t) })
	var n int64
	for ; i < len(m.sorted) && m.sorted[i].t <= to; i++ {
		d := m.sorted[i]
		if m.selects(sel, d) {
			n += m.n[d]
		}
	}
	return n
}

// refFloor is floor(a / w) computed with math/big, independently of
// floorDiv.
func refFloor(a, w int64) int64 {
	q, mod := new(big.Int), new(big.Int)
	q.DivMod(big.NewInt(a), big.NewInt(w), mod) // Euclidean: floor for w > 0
	return q.Int64()
}

// refStart and refEnd are the first and last millisecond of the bucket of
// width w holding t, clamped to the int64 range.
func refStart(t, w int64) int64 {
	s := new(big.Int).Mul(big.NewInt(refFloor(t, w)), big.NewInt(w))
	if !s.IsInt64() {
		return math.MinInt64
	}
	return s.Int64()
}

func refEnd(t, w int64) int64 {
	e := new(big.Int).Mul(big.NewInt(refFloor(t, w)+1), big.NewInt(w))
	e.Sub(e, big.NewInt(1))
	if !e.IsInt64() {
		return math.MaxInt64
	}
	return e.Int64()
}

// randomTime is mostly near the epoch (negative times included) and on or
// next to hour and day boundaries, sometimes far away or at the ends of the
// int64 range.
func randomTime(r *rand.Rand) int64 {
	switch p := r.IntN(100); {
	case p < 55:
		return r.Int64N(4*dayMS) - 2*dayMS
	case p < 80:
		return (r.Int64N(97)-48)*hourMS + r.Int64N(3) - 1
	case p < 90:
		return r.Int64N(2e15) - 1e15
	default:
		return []int64{math.MinInt64, math.MinInt64 + 1, math.MinInt64 + dayMS, math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - hourMS}[r.IntN(6)]
	}
}

// bigKinds are kind codes at and past the 4096 that kinds were once
// limited to, up to the largest.
var bigKinds = []uint32{4095, 4096, 5000, 65535, 65536, 1 << 20, math.MaxUint32}

// siteOf is the site of a device of the model: devices never move. Device 0
// is the server's, of site 0; the largest device code is in the largest
// site, which the counts keep apart from the others.
func siteOf(dev uint32) uint32 {
	switch {
	case dev == 0:
		return 0
	case dev == math.MaxUint32:
		return math.MaxUint32
	case dev > 12:
		return 5
	default:
		return 1 + (dev-1)/3
	}
}

// randomDims makes an event: mostly of a few devices and kinds, some of
// them server events, and some with codes at their limits.
func randomDims(r *rand.Rand) dims {
	d := dims{t: randomTime(r), kind: uint32(r.IntN(6))}
	if r.IntN(4) != 0 {
		d.dev = 1 + uint32(r.IntN(12))
	}
	switch r.IntN(20) {
	case 0, 1:
		d.kind = bigKinds[r.IntN(len(bigKinds))]
	case 2:
		d.dev = math.MaxUint32
	case 3:
		d.dev = maxDenseDevice // beyond the dense device slice
	}
	d.site = siteOf(d.dev)
	return d
}

// randomDeltas makes n deltas, some of them removing events of m, and adds
// them to m.
func randomDeltas(r *rand.Rand, m *model, n int) []Delta {
	return randomDeltasOf(r, m, n, randomDims)
}

// randomDeltasOf is randomDeltas with new events made by newDims.
func randomDeltasOf(r *rand.Rand, m *model, n int, newDims func(*rand.Rand) dims) []Delta {
	var out []Delta
	for range n {
		var d dims
		k := int64(1 + r.IntN(3))
		if len(m.order) > 0 && r.IntN(5) == 0 {
			d = m.order[r.IntN(len(m.order))]
			if m.n[d] == 0 {
				continue
			}
			k = -1 - r.Int64N(m.n[d])
		} else if len(m.order) > 0 && r.IntN(4) == 0 {
			d = m.order[r.IntN(len(m.order))] // the same dimensions again
		} else {
			d = newDims(r)
		}
		m.add(d, k)
		out = append(out, Delta{TimeMS: d.t, Site: d.site, Device: d.dev, Kind: d.kind, N: k})
	}
	return out
}

// randomSet is nil (any) or a random subset of universe, possibly empty.
func randomSet(r *rand.Rand, universe []uint32) []uint32 {
	if r.IntN(2) == 0 {
		return nil
	}
	set := []uint32{}
	for _, v := range universe {
		if r.IntN(3) == 0 {
			set = append(set, v)
		}
	}
	if len(set) > 1 && r.IntN(4) == 0 {
		set = append(set, set[0]) // a duplicate
	}
	return set
}

func randomSelection(r *rand.Rand) Selection {
	return Selection{
		Sites:   randomSet(r, []uint32{0, 1, 2, 3, 4, 5, 6, math.MaxUint32}),
		Devices: randomSet(r, []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99, maxDenseDevice, math.MaxUint32}),
		Kinds:   randomSet(r, append([]uint32{0, 1, 2, 3, 4, 5, 77777}, bigKinds...)),
	}
}

// randomWindow is made of event times, times near them and random times,
// sometimes open at either end, from <= to.
func randomWindow(r *rand.Rand, m *model) (from, to int64) {
	end := func() int64 {
		if len(m.sorted) > 0 && r.IntN(3) == 0 {
			return m.sorted[r.IntN(len(m.sorted))].t + r.Int64N(3) - 1
		}
		return randomTime(r)
	}
	from, to = end(), end()
	if from > to {
		from, to = to, from
	}
	switch r.IntN(8) {
	case 0:
		from = math.MinInt64
	case 1:
		to = math.MaxInt64
	case 2:
		from, to = math.MinInt64, math.MaxInt64
	}
	return from, to
}

// checkBuckets checks Buckets(sel, from, to) against the model: the buckets
// are ascending, disjoint and inside the window; exact ones are whole hours,
// days or finer buckets (days only with a device filter, hours only where
// the whole day is not in the window, finer buckets only where the whole
// hour is not) holding exactly the model's count; non-exact ones are
// partial edges; and the gaps between them are whole buckets with no selected
// event, so the buckets cover every selected event of the window.
func checkBuckets(t testing.TB, c *Counts, m *model, sel Selection, from, to int64) {
	t.Helper()
	bs, seq := c.Buckets(sel, from, to)
	if got, want := seq, c.Seq(); got != want {
		t.Fatalf("Buckets seq: got %d, want %d", got, want)
	}
	where := fmt.Sprintf("Buckets(%+v, %d, %d) = %+v", sel, from, to, bs)
	if from > to {
		if len(bs) != 0 {
			t.Fatalf("%s: got %d buckets for an empty window, want none", where, len(bs))
		}
		return
	}
	unit, gapUnit := int64(hourMS), fineWidths[levels-1]
	if sel.Devices != nil {
		unit, gapUnit = dayMS, dayMS
	}
	checkGap := func(a, b int64) {
		if refStart(a, gapUnit) != a || refEnd(b, gapUnit) != b {
			t.Fatalf("%s: gap [%d, %d] is not whole buckets of %d ms", where, a, b, gapUnit)
		}
		if n := m.count(sel, a, b); n != 0 {
			t.Fatalf("%s: gap [%d, %d] holds %d selected events, want 0", where, a, b, n)
		}
	}
	cur, done := from, false
	var sum int64
	nonExact := 0
	for _, b := range bs {
		if done || b.FromMS < cur || b.FromMS > b.ToMS || b.ToMS > to {
			t.Fatalf("%s: bucket %+v is out of order, overlapping or outside the window", where, b)
		}
		if b.FromMS > cur {
			checkGap(cur, b.FromMS-1)
		}
		n := m.count(sel, b.FromMS, b.ToMS)
		if b.Exact {
			whole := func(w int64) bool { return refStart(b.FromMS, w) == b.FromMS && refEnd(b.FromMS, w) == b.ToMS }
			switch {
			case whole(dayMS):
			case whole(hourMS) && sel.Devices == nil:
				if from <= refStart(b.FromMS, dayMS) && refEnd(b.FromMS, dayMS) <= to {
					t.Fatalf("%s: hour bucket %+v of a day wholly in the window", where, b)
				}
			case slices.ContainsFunc(fineWidths[:], whole) && sel.Devices == nil:
				if from <= refStart(b.FromMS, hourMS) && refEnd(b.FromMS, hourMS) <= to {
					t.Fatalf("%s: fine bucket %+v of an hour wholly in the window", where, b)
				}
			default:
				t.Fatalf("%s: exact bucket %+v is not a whole bucket", where, b)
			}
			if b.N != n || b.N == 0 {
				t.Fatalf("%s: bucket %+v: got N %d, want %d (and not 0)", where, b, b.N, n)
			}
		} else {
			nonExact++
			if b.N != 0 {
				t.Fatalf("%s: non-exact bucket %+v: got N %d, want 0", where, b, b.N)
			}
			if b.FromMS != from && b.ToMS != to {
				t.Fatalf("%s: non-exact bucket %+v is not at an edge", where, b)
			}
			if refStart(b.FromMS, unit) != refStart(b.ToMS, unit) {
				t.Fatalf("%s: non-exact bucket %+v spans more than one %d ms bucket", where, b, unit)
			}
			if refStart(b.FromMS, unit) == b.FromMS && refEnd(b.ToMS, unit) == b.ToMS {
				t.Fatalf("%s: non-exact bucket %+v is a whole bucket", where, b)
			}
		}
		sum += n
		if b.ToMS == math.MaxInt64 {
			done = true
		} else {
			cur = b.ToMS + 1
		}
	}
	if !done && cur <= to {
		checkGap(cur, to)
	}
	if nonExact > 2 {
		t.Fatalf("%s: got %d non-exact buckets, want at most 2", where, nonExact)
	}
	if want := m.count(sel, from, to); sum != want {
		t.Fatalf("%s: buckets hold %d events, want %d", where, sum, want)
	}
}

func TestBucketsMatchModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			c, m := New(), newModel()
			seq := int64(0)
			for range 25 {
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
					checkBuckets(t, c, m, sel, from, to)
					if n, s := c.Total(sel); n != m.count(sel, math.MinInt64, math.MaxInt64) || s != seq {
						t.Fatalf("Total(%+v): got %d at seq %d, want %d at seq %d", sel, n, s, m.count(sel, math.MinInt64, math.MaxInt64), seq)
					}
				}
			}
			checkInvariants(t, c)
		})
	}
}

// checkInvariants checks the tables' shape: buckets and keys strictly
// ascending, no zero counts or empty buckets, totals that add up, and the
// day table and whole-axis totals equal to the sums they stand for.
func checkInvariants(t testing.TB, c *Counts) {
	t.Helper()
	n, err := decodeSnapshot(mustMarshal(t, c))
	if err != nil {
		t.Fatalf("decodeSnapshot: %v", err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	checkSeries(t, "hours", c.hours)
	checkSeries(t, "days", c.days)
	checkSeries(t, "devDays", c.devDays)
	if !slices.EqualFunc(n.days, c.days, bucketsEqual) {
		t.Fatalf("day table: got %+v, want the sums of the hours %+v", c.days, n.days)
	}
	if !tablesEqual(n.sites, c.sites) || !tablesEqual(n.devs, c.devs) || n.total != c.total {
		t.Fatalf("whole-axis totals: got %+v %+v %d, want %+v %+v %d", c.sites, c.devs, c.total, n.sites, n.devs, n.total)
	}
}

func checkSeries[K key](t testing.TB, name string, s []bucket[K]) {
	t.Helper()
	for i, b := range s {
		if i > 0 && s[i-1].num >= b.num {
			t.Fatalf("%s: bucket %d after %d", name, b.num, s[i-1].num)
		}
		if len(b.keys) == 0 || len(b.keys) != len(b.counts) {
			t.Fatalf("%s: bucket %d has %d keys and %d counts", name, b.num, len(b.keys), len(b.counts))
		}
		var total int64
		for j, k := range b.keys {
			if j > 0 && b.keys[j-1] >= k || b.counts[j] == 0 {
				t.Fatalf("%s: bucket %d entry %d: key %#x after %#x, count %d", name, b.num, j, k, b.keys[max(j-1, 0)], b.counts[j])
			}
			total += int64(b.counts[j])
		}
		if total != b.total {
			t.Fatalf("%s: bucket %d: got total %d, want %d", name, b.num, b.total, total)
		}
	}
}

func bucketsEqual[K key](a, b bucket[K]) bool {
	return a.num == b.num && a.total == b.total && tablesEqual(a.table, b.table)
}

func tablesEqual[K key, C count](a, b table[K, C]) bool {
	return slices.Equal(a.keys, b.keys) && slices.Equal(a.counts, b.counts)
}

// mustApply applies deltas at seq, failing the test on an error.
func mustApply(t testing.TB, c *Counts, seq int64, deltas []Delta) {
	t.Helper()
	if err := c.Apply(seq, deltas); err != nil {
		t.Fatalf("Apply(%d, %d deltas): %v", seq, len(deltas), err)
	}
}

// mustMarshal returns c's snapshot.
func mustMarshal(t testing.TB, c *Counts) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

func TestSortOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 63, 64, 65, 1000, 5000} {
		for _, spread := range []int64{1, 24, 1 << 40} {
			ops := make([]op[uint64], n)
			for i := range ops {
				ops[i] = op[uint64]{b: r.Int64N(spread) - spread/2, k: r.Uint64() >> r.IntN(64), n: int64(i)}
				if r.IntN(50) == 0 {
					ops[i].b = []int64{firstHour, lastHour, firstDay, lastDay}[r.IntN(4)]
				}
			}
			want := slices.Clone(ops)
			slices.SortStableFunc(want, func(x, y op[uint64]) int {
				if c := cmp.Compare(x.b, y.b); c != 0 {
					return c
				}
				return cmp.Compare(x.k, y.k)
			})
			sortOps(ops, nil)
			if n >= 64 && !slices.Equal(ops, want) {
				t.Fatalf("sortOps of %d ops spread over %d buckets: got %v, want %v", n, spread, ops, want)
			}
			if !slices.IsSortedFunc(ops, func(x, y op[uint64]) int {
				if c := cmp.Compare(x.b, y.b); c != 0 {
					return c
				}
				return cmp.Compare(x.k, y.k)
			}) {
				t.Fatalf("sortOps of %d ops spread over %d buckets: not sorted", n, spread)
			}
		}
	}
}
