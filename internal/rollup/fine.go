package rollup

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Finer counts where the events are dense.
//
// The hour is the finest bucket every event is counted in, so a window whose
// edge falls inside an hour leaves the caller to count that partial hour
// from the events: cheap for a few thousand events, but a poller asking for
// "since the last event I saw" at a busy site, or after a backfill, may find
// millions in the hour and wait for all of them to be read. So the
// site-level counts of an hour that holds more than a threshold of events
// are split into finer buckets, and those again where they are still dense,
// down a ladder of widths (fineWidths): whatever the density, a partial
// edge is then at most one unsplit bucket, which holds at most the
// threshold of events unless a split is pending. Sparse hours cost nothing
// more, so memory follows the events, not the time axis.
//
// Children are exact: a bucket is split only when all its events are known
// to the counts at that moment, either because it was empty before the
// batch that made it dense (its events are all in the batch), or because
// the caller counted them from the store and handed them to Refine. A
// bucket that crosses the threshold with events counted before is listed
// by Pending for the caller to recount; until it does, the bucket stays
// whole and its edges are scanned as before. A bucket is split exactly
// when the next level holds a child of it, so no flag is kept: a split
// bucket's children sum to its total, and a bucket whose events are all
// deleted loses its children with them.

// fineWidths are the widths in milliseconds of the levels below the hour,
// each dividing the one above, in steps of at most five so that a split
// bucket's children are never much smaller than needed.
var fineWidths = [...]int64{900_000, 300_000, 60_000, 15_000, 5_000, 1_000, 250, 50, 10}

// levels is the number of fine levels.
const levels = len(fineWidths)

// DefaultSplit is the number of events above which a bucket's counts are
// split into finer buckets (see Split): a bucket at the threshold is read
// in a millisecond or two, and at 100 million events over 90 days only the
// hours are split, into quarters of about 12,000 events.
const DefaultSplit = 16384

// parentWidth is the width of the buckets fine level i splits.
func parentWidth(i int) int64 {
	if i == 0 {
		return hourMS
	}
	return fineWidths[i-1]
}

// parentSeries is the series of the buckets fine level i splits.
func (c *Counts) parentSeries(i int) []bucket[uint64] {
	if i == 0 {
		return c.hours
	}
	return c.fine[i-1]
}

// childRange is the range of bucket numbers at fine level i of the children
// of parent bucket p.
func childRange(i int, p int64) (first, last int64) {
	r := parentWidth(i) / fineWidths[i]
	return p * r, p*r + r - 1
}

// hasChildren reports whether parent bucket p of fine level i is split.
func (c *Counts) hasChildren(i int, p int64) bool {
	first, last := childRange(i, p)
	s := c.fine[i]
	j, _ := slices.BinarySearchFunc(s, first, func(b bucket[uint64], n int64) int { return cmp.Compare(b.num, n) })
	return j < len(s) && s[j].num <= last
}

// seriesTotal is the total of bucket num of s, 0 when it is not stored.
func seriesTotal(s []bucket[uint64], num int64) int64 {
	j, ok := slices.BinarySearchFunc(s, num, func(b bucket[uint64], n int64) int { return cmp.Compare(b.num, n) })
	if !ok {
		return 0
	}
	return s[j].total
}

// Span is a bucket whose events the caller is to count from the store and
// hand to Refine, so that its finer counts can be made: every event with
// FromMS <= time <= ToMS (both inclusive).
type Span struct {
	// Level is the fine level of the children to make, and Num the
	// bucket's number at the width of the level above.
	Level        int
	Num          int64
	FromMS, ToMS int64
}

// SetSplit sets the number of events above which a bucket is split (see
// DefaultSplit), before any count is applied; tests set a small one to
// exercise the finer levels with few events.
func (c *Counts) SetSplit(n int64) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.split = max(n, 1)
}

// splitAt is the split threshold in force.
func (c *Counts) splitAt() int64 {
	if c.split == 0 {
		return DefaultSplit
	}
	return c.split
}

// finePlan is the planned change of the fine levels.
type finePlan [levels][]bucketPlan[uint64]

// planFine plans the changes deltas make to the fine levels from level
// start down, and appends the buckets that crossed the threshold with
// events counted before to c.pending. hourOps are the deltas' summed ops of
// the hour table. force, when set, is the bucket above level start to
// split whatever its counts (Refine); otherwise start is 0. It runs under
// wmu.
func (c *Counts) planFine(start int, deltas []Delta, hourOps []op[uint64], force *int64) (finePlan, error) {
	var plans finePlan
	var split []int64
	switch {
	case force != nil:
		split = []int64{*force}
	case len(c.fine[0]) == 0:
		// No hour is split yet (a store whose hours are all sparse):
		// only an hour whose count grows past the threshold matters,
		// and the hour ops have its change already.
		split = c.splitParents(start, hourOps)
	default:
		split = c.splitParents(start, c.touched(deltas, 0, hourMS, nil))
	}
	for i := start; i < levels && len(split) > 0; i++ {
		ops := c.levelOps(i, deltas, split)
		var err error
		if plans[i], err = planSeries(c.fine[i], ops); err != nil {
			return plans, fmt.Errorf("fine level %d: %w", i, err)
		}
		if i+1 < levels {
			split = c.splitParents(i+1, c.touched(deltas, parentWidth(i), fineWidths[i], split))
		}
	}
	return plans, nil
}

// touched returns the buckets of width w that the deltas touch, those in
// the buckets split (of width pw) only unless split is nil, ascending, each
// with the net change of its count. A bucket whose change is zero is
// listed too: events may move between its children.
func (c *Counts) touched(deltas []Delta, pw, w int64, split []int64) []op[uint64] {
	ops := make([]op[uint64], 0, len(deltas))
	last, have, in := int64(0), false, split == nil
	for _, d := range deltas {
		if d.N == 0 {
			continue
		}
		if split != nil {
			if p := floorDiv(d.TimeMS, pw); !have || p != last {
				_, in = slices.BinarySearch(split, p)
				last, have = p, true
			}
		}
		if in {
			ops = append(ops, op[uint64]{b: floorDiv(d.TimeMS, w), n: d.N})
		}
	}
	c.tmp = sortOps(ops, c.tmp)
	out := ops[:0]
	for i := 0; i < len(ops); {
		o := ops[i]
		for i++; i < len(ops) && ops[i].b == o.b; i++ {
			o.n += ops[i].n
		}
		out = append(out, o)
	}
	return out
}

// splitParents returns, ascending, the buckets of level i-1 that parentOps
// (sorted by bucket, see touched) change and that are split after them:
// split already, or crossing the threshold with no events before. Those
// crossing it with events before are added to c.pending.
func (c *Counts) splitParents(i int, parentOps []op[uint64]) []int64 {
	var split []int64
	series := c.parentSeries(i)
	for j := 0; j < len(parentOps); {
		p := parentOps[j].b
		var d int64
		for ; j < len(parentOps) && parentOps[j].b == p; j++ {
			d += parentOps[j].n
		}
		switch old := seriesTotal(series, p); {
		case c.hasChildren(i, p):
			split = append(split, p)
		case old+d <= c.splitAt():
		case old == 0:
			split = append(split, p)
		default:
			// A set, not a list: a rebuild of the counts in many
			// batches of events in random order meets every dense
			// bucket in every batch.
			if c.pending == nil {
				c.pending = map[[2]int64]Span{}
			}
			w := parentWidth(i)
			c.pending[[2]int64{int64(i), p}] = Span{Level: i, Num: p, FromMS: bucketStart(p, w), ToMS: bucketEnd(p, w)}
		}
	}
	return split
}

// levelOps returns the summed ops of fine level i of the deltas whose
// parent bucket is in split (ascending).
func (c *Counts) levelOps(i int, deltas []Delta, split []int64) []op[uint64] {
	pw, w := parentWidth(i), fineWidths[i]
	ops := c.fineOps[:0]
	last, have, in := int64(0), false, false
	for _, d := range deltas {
		if d.N == 0 {
			continue
		}
		if p := floorDiv(d.TimeMS, pw); !have || p != last {
			_, in = slices.BinarySearch(split, p)
			last, have = p, true
		}
		if in {
			ops = append(ops, op[uint64]{floorDiv(d.TimeMS, w), pack(d.Site, d.Kind), d.N})
		}
	}
	ops, c.tmp = sumOps(ops, c.tmp)
	// The ops are kept by the plan only as counts, so the buffer is
	// handed back for the next level, cloned out of the way first.
	out := slices.Clone(ops)
	c.fineOps = ops
	return out
}

// installFine installs plans made by planFine; it runs under wmu and mu.
func (c *Counts) installFine(plans *finePlan) {
	for i := range plans {
		if len(plans[i]) > 0 {
			c.fine[i] = installSeries(c.fine[i], plans[i])
		}
	}
}

// Pending returns the buckets that crossed the split threshold holding
// events counted before, and forgets them: the caller counts each from the
// store and hands the events to Refine. One it does not refine stays whole,
// which is exact but slower to read, and is listed again when events are
// next added to it.
func (c *Counts) Pending() []Span {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	p := make([]Span, 0, len(c.pending))
	for _, sp := range c.pending {
		p = append(p, sp)
	}
	c.pending = nil
	slices.SortFunc(p, func(a, b Span) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Num, b.Num))
	})
	return p
}

// ErrStale is the error of Refine when the counts moved on past the version
// the caller counted at, or the span was split since; the caller drops the
// work (the span is listed again when it next changes).
var ErrStale = errors.New("rollup: the counts changed since the span was counted")

// Refine splits span sp into finer counts from deltas, every event of the
// span with seq <= seq as the caller counted them from the store, where seq
// is the counts' version. It checks the deltas against the span's count and
// refuses, changing nothing, when they differ (ErrInvalid) or the counts
// are no longer at seq (ErrStale).
func (c *Counts) Refine(sp Span, seq int64, deltas []Delta) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if sp.Level < 0 || sp.Level >= levels {
		return fmt.Errorf("%w: span level %d", ErrInvalid, sp.Level)
	}
	if c.seq != seq || c.hasChildren(sp.Level, sp.Num) {
		return ErrStale
	}
	pw := parentWidth(sp.Level)
	var n int64
	for _, d := range deltas {
		if floorDiv(d.TimeMS, pw) != sp.Num {
			return fmt.Errorf("%w: delta at %d outside the span %d..%d", ErrInvalid, d.TimeMS, sp.FromMS, sp.ToMS)
		}
		n += d.N
	}
	if want := seriesTotal(c.parentSeries(sp.Level), sp.Num); n != want {
		return fmt.Errorf("%w: the span %d..%d holds %d events, the counts say %d", ErrInvalid, sp.FromMS, sp.ToMS, n, want)
	}
	plans, err := c.planFine(sp.Level, deltas, nil, &sp.Num)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installFine(&plans)
	return nil
}

// partial visits the buckets of [lo, hi], a part of bucket p of the level
// above fine level i (an hour for 0): where p is split, whole children
// through whole (a range of bucket numbers of series s, width w) and the
// partial children at the edges further down; where it is not, [lo, hi]
// through rest, for the caller to count.
func (c *Counts) partial(i int, p, lo, hi int64, whole func(s []bucket[uint64], first, last, w int64), rest func(lo, hi int64)) {
	if i >= levels || !c.hasChildren(i, p) {
		rest(lo, hi)
		return
	}
	w := fineWidths[i]
	c0, c1 := floorDiv(lo, w), floorDiv(hi, w)
	wholeFirst := lo == bucketStart(c0, w)
	wholeLast := hi == bucketEnd(c1, w)
	if c0 == c1 && !(wholeFirst && wholeLast) {
		c.partial(i+1, c0, lo, hi, whole, rest)
		return
	}
	first, last := c0, c1
	if !wholeFirst {
		c.partial(i+1, c0, lo, bucketEnd(c0, w), whole, rest)
		first++
	}
	if !wholeLast {
		last--
	}
	if first <= last {
		whole(c.fine[i], first, last, w)
	}
	if !wholeLast {
		c.partial(i+1, c1, bucketStart(c1, w), hi, whole, rest)
	}
}

// partialBuckets appends the buckets of partial for a Buckets answer.
func (c *Counts) partialBuckets(out []Bucket, f *filter, i int, p, lo, hi int64) []Bucket {
	c.partial(i, p, lo, hi, func(s []bucket[uint64], first, last, w int64) {
		out = walk(out, s, first, last, w, func(b *bucket[uint64]) int64 { return sumSites(&b.table, b.total, f) })
	}, func(lo, hi int64) {
		out = append(out, Bucket{FromMS: lo, ToMS: hi})
	})
	return out
}

// Children returns the exact buckets one level finer than b, an exact
// bucket of a selection without devices that Buckets or Children returned
// at version seq: the hours of a day, or the finer buckets of a split hour
// or finer bucket (those holding selected events). It is nil when the
// counts hold nothing finer, and the caller then reads b's events. ok is
// false when the counts are no longer at version seq (an Apply came
// between), and the caller starts again.
func (c *Counts) Children(sel Selection, b Bucket, seq int64) (buckets []Bucket, ok bool) {
	f := newFilter(sel)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.seq != seq {
		return nil, false
	}
	if f.byDevice || !b.Exact || b.FromMS > b.ToMS {
		return nil, true
	}
	width := b.ToMS - b.FromMS + 1
	var i int
	switch {
	case width == dayMS:
		return c.hourBuckets(nil, &f, b.FromMS, b.ToMS), true
	case width == hourMS:
		i = 0
	default:
		j := slices.Index(fineWidths[:], width)
		if j < 0 || j+1 >= levels {
			return nil, true
		}
		i = j + 1
	}
	p := floorDiv(b.FromMS, parentWidth(i))
	if b.FromMS != bucketStart(p, parentWidth(i)) || !c.hasChildren(i, p) {
		return nil, true
	}
	first, last := childRange(i, p)
	return walk(nil, c.fine[i], first, last, fineWidths[i], func(b *bucket[uint64]) int64 { return sumSites(&b.table, b.total, &f) }), true
}

// checkFine checks, for a loaded snapshot, that every split bucket's
// children sum to its total.
func (c *Counts) checkFine() error {
	for i := range c.fine {
		parents := c.parentSeries(i)
		s := c.fine[i]
		for j := 0; j < len(s); {
			p := floorDiv(bucketStart(s[j].num, fineWidths[i]), parentWidth(i))
			var n int64
			for ; j < len(s) && floorDiv(bucketStart(s[j].num, fineWidths[i]), parentWidth(i)) == p; j++ {
				n += s[j].total
			}
			if want := seriesTotal(parents, p); n != want {
				return fmt.Errorf("%w: fine level %d: the children of bucket %d hold %d events, the bucket %d", errCorrupt, i, p, n, want)
			}
		}
	}
	return nil
}
