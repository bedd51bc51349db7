package rollup

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// denseTime is a time in one of a few dense clusters around two hours of
// day d0 (bursts within a second, a minute, a quarter), so that with a small
// split threshold every fine level is split somewhere, and sometimes a
// time anywhere, or, when tame, a time in the days around d0: far times
// make the newest day of the counts far away, and the device ladder then
// splits nothing near d0.
func denseTime(r *rand.Rand, tame bool) int64 {
	base := at(d0, 10, 0)
	switch p := r.IntN(10); {
	case p < 3:
		return base + 37*60_000 + r.Int64N(1_000) // one second
	case p < 5:
		return base + 12*60_000 + r.Int64N(60_000) // one minute
	case p < 7:
		return base + r.Int64N(2*hourMS) // two hours
	case p < 8:
		return base + hourMS + 15*60_000 + r.Int64N(20) // a few milliseconds
	case tame:
		return base + r.Int64N(3*dayMS) - dayMS
	default:
		return randomTime(r)
	}
}

// denseDeltas is randomDeltas with most new events at dense times, and all
// of them when tame.
func denseDeltas(r *rand.Rand, m *model, n int, tame bool) []Delta {
	return randomDeltasOf(r, m, n, func(r *rand.Rand) dims {
		d := randomDims(r)
		if tame || r.IntN(4) != 0 {
			d.t = denseTime(r, tame)
		}
		return d
	})
}

// refine recounts the pending spans from the model and hands them to
// Refine, the way the store does from its events.
func refine(t testing.TB, c *Counts, m *model) {
	t.Helper()
	for _, sp := range c.Pending() {
		var deltas []Delta
		for _, d := range m.order {
			if n := m.n[d]; n != 0 && d.t >= sp.FromMS && d.t <= sp.ToMS {
				deltas = append(deltas, Delta{TimeMS: d.t, Site: d.site, Device: d.dev, Kind: d.kind, N: n})
			}
		}
		if err := c.Refine(sp, c.Seq(), deltas); err != nil && !errors.Is(err, ErrStale) {
			t.Fatalf("Refine(%+v): %v", sp, err)
		}
	}
}

func TestFineMatchesModel(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 23))
			c, m := New(), newModel()
			c.SetSplit(int64(2 + r.IntN(6)))
			tame := seed%2 == 1
			seq := int64(0)
			for range 25 {
				deltas := denseDeltas(r, m, 1+r.IntN([]int{10, 60, 300}[r.IntN(3)]), tame)
				seq += int64(r.IntN(3))
				mustApply(t, c, seq, deltas)
				if r.IntN(4) != 0 {
					// Sometimes the caller does not refine, or not yet:
					// the counts must stay exact either way.
					refine(t, c, m)
				}
				m.index()
				for range 25 {
					sel := randomSelection(r)
					from, to := randomWindow(r, m)
					if r.IntN(2) == 0 && len(m.sorted) > 0 {
						// A poller's window: from an event's time on.
						from, to = m.sorted[r.IntN(len(m.sorted))].t, math.MaxInt64
					}
					checkDaysByDevice(t, c, m, sel, from, to)
					sel.Devices = nil
					checkBuckets(t, c, m, sel, from, to)
					checkHoursByKind(t, c, m, sel, from, to)
					checkChildren(t, c, m, sel, from, to)
				}
				checkFineInvariants(t, c, m)
				checkSnapshotKeeps(t, c)
			}
			if tame && len(c.ladders[deviceLadder].fine[0]) == 0 {
				t.Error("the device ladder split no day: the test did not exercise it")
			}
		})
	}
}

// checkChildren narrows every exact bucket of a window down through
// Children, checking at each step that the children are ascending, inside
// their parent, exact against the model, and together hold the parent's
// count when the parent has any.
func checkChildren(t testing.TB, c *Counts, m *model, sel Selection, from, to int64) {
	t.Helper()
	bs, seq := c.Buckets(sel, from, to)
	var narrow func(b Bucket, depth int)
	narrow = func(b Bucket, depth int) {
		kids, ok := c.Children(sel, b, seq)
		if !ok {
			t.Fatalf("Children(%+v): the counts moved without an Apply", b)
		}
		if kids == nil {
			return
		}
		if depth > levels+1 {
			t.Fatalf("Children(%+v): deeper than the levels", b)
		}
		var n int64
		for i, k := range kids {
			if !k.Exact || k.FromMS < b.FromMS || k.ToMS > b.ToMS || (i > 0 && kids[i-1].ToMS >= k.FromMS) {
				t.Fatalf("Children(%+v) = %+v: child %+v not exact, ascending and inside", b, kids, k)
			}
			if want := m.count(sel, k.FromMS, k.ToMS); k.N != want || k.N == 0 {
				t.Fatalf("Children(%+v): child %+v: got N %d, want %d (and not 0)", b, k, k.N, want)
			}
			n += k.N
			narrow(k, depth+1)
		}
		if n != b.N {
			t.Fatalf("Children(%+v) = %+v: hold %d events, want %d", b, kids, n, b.N)
		}
	}
	for _, b := range bs {
		if b.Exact {
			narrow(b, 0)
		}
	}
}

// checkFineInvariants checks that every fine bucket of both ladders holds
// the model's count and every split bucket is split whole: its children
// sum to its total.
func checkFineInvariants(t testing.TB, c *Counts, m *model) {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.checkFine(); err != nil {
		t.Fatal(err)
	}
	for l, lad := range c.ladders {
		for i, s := range lad.fine {
			checkSeries(t, fmt.Sprintf("ladder %d level %d", l, i), s)
			w := lad.widths[i+1]
			for _, b := range s {
				if got, want := b.total, m.count(Selection{}, bucketStart(b.num, w), bucketEnd(b.num, w)); got != want {
					t.Fatalf("ladder %d level %d bucket %d: got total %d, want %d", l, i, b.num, got, want)
				}
			}
		}
	}
}

// checkSnapshotKeeps checks that a snapshot loads into counts that answer
// the same, finer counts included.
func checkSnapshotKeeps(t testing.TB, c *Counts) {
	t.Helper()
	b := mustMarshal(t, c)
	n := New()
	if err := n.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary of a snapshot: %v", err)
	}
	for l := range c.ladders {
		for i := range c.ladders[l].fine {
			if got, want := n.ladders[l].fine[i], c.ladders[l].fine[i]; !slices.EqualFunc(got, want, bucketsEqual[uint64]) {
				t.Fatalf("ladder %d level %d after a snapshot: got %d buckets, want %d the same", l, i, len(got), len(want))
			}
		}
	}
}

// TestFineSplitsDenseEdges is the case the fine levels are for: a poller's
// window starting inside an hour that holds many events leaves the caller
// at most the split threshold of events to count, wherever the window
// starts, once the pending spans are refined; and none before they are
// refined is counted wrong.
func TestFineSplitsDenseEdges(t *testing.T) {
	const split = 100
	base := at(d0, 10, 0)
	tests := []struct {
		name    string
		batches int
		perMS   int64 // events per millisecond at the dense end
	}{
		{"one batch", 1, 1},
		{"many batches", 20, 1},
		{"many events a millisecond", 20, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := New(), newModel()
			c.SetSplit(split)
			// 20,000 events: most of them in the last second, the rest
			// over the hour.
			var seq int64
			for b := range tt.batches {
				var deltas []Delta
				for i := range 20_000 / tt.batches {
					k := int64(b*(20_000/tt.batches) + i)
					tm := base + hourMS - 1_000 + k/tt.perMS%1_000
					if k%5 == 0 {
						tm = base + k*7%hourMS
					}
					d := dims{t: tm, site: 1, dev: 1 + uint32(k%9), kind: uint32(k % 3)}
					m.add(d, 1)
					deltas = append(deltas, Delta{TimeMS: d.t, Site: d.site, Device: d.dev, Kind: d.kind, N: 1})
				}
				seq++
				mustApply(t, c, seq, deltas)
				refine(t, c, m)
			}
			m.index()
			for _, from := range []int64{base + 1, base + hourMS/2 + 3, base + hourMS - 999, base + hourMS - 500, base + hourMS - 2} {
				sel := Selection{Kinds: []uint32{1}}
				bs, _ := c.Buckets(sel, from, math.MaxInt64)
				for _, b := range bs {
					if b.Exact {
						continue
					}
					all := m.count(Selection{}, b.FromMS, b.ToMS)
					// The finest buckets may hold more when events share
					// milliseconds.
					if all > split && b.ToMS-b.FromMS >= fineWidths[levels-1] {
						t.Errorf("window from %d: non-exact bucket %+v holds %d events, want at most %d", from, b, all, split)
					}
				}
				checkBuckets(t, c, m, sel, from, math.MaxInt64)
			}
		})
	}
}

func TestRefineRefuses(t *testing.T) {
	c := New()
	c.SetSplit(2)
	ev := func(tm int64) Delta { return Delta{TimeMS: tm, Site: 1, Device: 1, Kind: 1, N: 1} }
	h := at(d0, 10, 0)
	mustApply(t, c, 1, []Delta{ev(h + 1)})
	mustApply(t, c, 2, []Delta{ev(h + 2), ev(h + 20*60_000)})
	pending := c.Pending()
	day := floorDiv(h, dayMS)
	want := []Span{
		{Ladder: siteLadder, Level: 0, Num: floorDiv(h, hourMS), FromMS: h, ToMS: h + hourMS - 1},
		{Ladder: deviceLadder, Level: 0, Num: day, FromMS: day * dayMS, ToMS: day*dayMS + dayMS - 1},
	}
	if !slices.Equal(pending, want) {
		t.Fatalf("Pending: got %+v, want %+v", pending, want)
	}
	if again := c.Pending(); len(again) != 0 {
		t.Fatalf("Pending a second time: got %+v, want none", again)
	}
	sp := pending[0]
	all := []Delta{ev(h + 1), ev(h + 2), ev(h + 20*60_000)}
	tests := []struct {
		name   string
		seq    int64
		deltas []Delta
		want   error
	}{
		{"stale", 1, all, ErrStale},
		{"missing an event", 2, all[:2], ErrInvalid},
		{"outside the span", 2, []Delta{ev(h + 1), ev(h + 2), ev(h + hourMS)}, ErrInvalid},
		{"right", 2, all, nil},
		{"already split", 2, all, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Refine(sp, tt.seq, tt.deltas)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Refine: got %v, want %v", err, tt.want)
			}
		})
	}
	if !c.hasChildren(siteLadder, 0, sp.Num) {
		t.Fatal("after Refine the hour is not split")
	}
	got, _ := c.Buckets(Selection{}, h+2, h+hourMS-1)
	if want := []Bucket{partial(h+2, h+15*60_000-1), exact(h+15*60_000, h+30*60_000-1, 1)}; !slices.Equal(got, want) {
		t.Errorf("Buckets after Refine:\ngot  %+v\nwant %+v", got, want)
	}
}

// TestDeviceLadderRecentDays checks that the device ladder splits only the
// newest days, drops a day's finer counts when the counts move two days
// past it, and that the counts by device stay exact throughout.
func TestDeviceLadderRecentDays(t *testing.T) {
	c, m := New(), newModel()
	c.SetSplit(4)
	var seq int64
	burst := func(day int64) {
		var deltas []Delta
		for i := range 10 {
			d := dims{t: at(day, 10, 0) + int64(i)*60_000, site: 1, dev: 1 + uint32(i%2), kind: 1}
			m.add(d, 1)
			deltas = append(deltas, Delta{TimeMS: d.t, Site: d.site, Device: d.dev, Kind: d.kind, N: 1})
		}
		seq++
		mustApply(t, c, seq, deltas)
		m.index()
	}
	split := func(day int64) bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return c.hasChildren(deviceLadder, 0, day)
	}
	burst(d0)
	if !split(d0) {
		t.Fatal("a dense newest day is not split")
	}
	burst(d0 + 1)
	if !split(d0) || !split(d0+1) {
		t.Fatalf("the two newest days: split %v and %v, want both", split(d0), split(d0+1))
	}
	burst(d0 + 2)
	if split(d0) || !split(d0+1) || !split(d0+2) {
		t.Fatalf("days d0..d0+2 split %v %v %v, want false true true", split(d0), split(d0+1), split(d0+2))
	}
	burst(d0) // a late burst into a day no longer recent
	if split(d0) {
		t.Fatal("a late burst split a day that is no longer recent")
	}
	checkFineInvariants(t, c, m)
	for _, day := range []int64{d0, d0 + 1, d0 + 2} {
		checkDaysByDevice(t, c, m, Selection{}, at(day, 10, 3), at(day+1, 0, 0)-1)
		checkDaysByDevice(t, c, m, Selection{Devices: []uint32{2}}, at(day, 10, 3)+7, math.MaxInt64)
	}
}
