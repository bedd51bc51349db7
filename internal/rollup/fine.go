package rollup

import (
	"cmp"
	"errors"
	"fmt"
	"math"
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
//
// There are two ladders. The site ladder splits the hours of the
// site-level counts (keys site<<32 | kind), for totals and pages. The
// device ladder splits the days of the device-level counts (keys
// device<<32 | kind) into hours, then down the same widths, for counts by
// device (the charts' per-device figures, which would otherwise read a
// partial day event by event). A device-level bucket holds up to devices
// × kinds entries, many more than a site-level one, so the device ladder
// splits only the newest recentDays days of the counts, the days a "today"
// or "last 24 hours" window cuts, and drops an older day's finer counts
// when the counts move past it. "Newest" is of the events' times, not of a
// clock: a device whose clock runs days ahead moves it, and the present's
// days then keep only their day counts (exact, read from the runs) until
// real time catches up.

// fineWidths are the widths in milliseconds of the levels below the hour,
// each dividing the one above, in steps of at most five so that a split
// bucket's children are never much smaller than needed.
var fineWidths = [...]int64{900_000, 300_000, 60_000, 15_000, 5_000, 1_000, 250, 50, 10}

// levels is the number of fine levels of the site ladder.
const levels = len(fineWidths)

// recentDays is how many of the newest days of the counts the device
// ladder splits.
const recentDays = 2

// DefaultSplit is the number of events above which a bucket's counts are
// split into finer buckets (see Split): a bucket at the threshold is read
// in a millisecond or two, and at 100 million events over 90 days only the
// hours are split, into quarters of about 12,000 events.
const DefaultSplit = 16384

// The two ladders, indexes of Counts.ladders.
const (
	siteLadder = iota
	deviceLadder
)

// ladder is the finer counts below one series: widths[0] is the width of
// the buckets of the series it splits (an hour, or a day), widths[i+1] that
// of fine[i].
type ladder struct {
	widths []int64
	fine   [][]bucket[uint64]
}

// newLadders returns the two ladders, empty.
func newLadders() [2]ladder {
	return [2]ladder{
		siteLadder:   {widths: append([]int64{hourMS}, fineWidths[:]...), fine: make([][]bucket[uint64], levels)},
		deviceLadder: {widths: append([]int64{dayMS, hourMS}, fineWidths[:]...), fine: make([][]bucket[uint64], levels+1)},
	}
}

// top is the series ladder l splits.
func (c *Counts) top(l int) []bucket[uint64] {
	if l == deviceLadder {
		return c.devDays
	}
	return c.hours
}

// entryKey is the key of delta d in ladder l's tables.
func entryKey(l int, d *Delta) uint64 {
	if l == deviceLadder {
		return pack(d.Device, d.Kind)
	}
	return pack(d.Site, d.Kind)
}

// parentSeries is the series of the buckets level i of ladder l splits.
func (c *Counts) parentSeries(l, i int) []bucket[uint64] {
	if i == 0 {
		return c.top(l)
	}
	return c.ladders[l].fine[i-1]
}

// childRange is the range of bucket numbers at level i of ladder l of the
// children of parent bucket p.
func (c *Counts) childRange(l, i int, p int64) (first, last int64) {
	w := c.ladders[l].widths
	r := w[i] / w[i+1]
	return p * r, p*r + r - 1
}

// hasChildren reports whether parent bucket p of level i of ladder l is
// split.
func (c *Counts) hasChildren(l, i int, p int64) bool {
	first, last := c.childRange(l, i, p)
	s := c.ladders[l].fine[i]
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
	// Ladder is which counts the span splits (unexported values), Level
	// the level of the children to make and Num the bucket's number at the
	// width of the level above.
	Ladder, Level int
	Num           int64
	FromMS, ToMS  int64
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

// finePlan is the planned change of one ladder's levels.
type finePlan [][]bucketPlan[uint64]

// planFine plans the changes deltas make to ladder l from level start
// down, and adds the buckets that crossed the threshold with events counted
// before to c.pending. topOps are the deltas' summed ops of the ladder's
// top series. force, when set, is the bucket above level start to split
// whatever its counts (Refine); otherwise start is 0. Buckets of the top
// series numbered below minTop are never split. It runs under wmu.
func (c *Counts) planFine(l, start int, deltas []Delta, topOps []op[uint64], force *int64, minTop int64) (finePlan, error) {
	lad := &c.ladders[l]
	plans := make(finePlan, len(lad.fine))
	var split []int64
	switch {
	case force != nil:
		split = []int64{*force}
	case len(lad.fine[0]) == 0:
		// Nothing is split yet (a store whose buckets are all sparse):
		// only a bucket whose count grows past the threshold matters, and
		// the top ops have its change already.
		split = c.splitParents(l, start, topOps, minTop)
	default:
		split = c.splitParents(l, start, c.touched(deltas, 0, lad.widths[0], nil), minTop)
	}
	for i := start; i < len(lad.fine) && len(split) > 0; i++ {
		ops := c.levelOps(l, i, deltas, split)
		var err error
		if plans[i], err = planSeries(lad.fine[i], ops); err != nil {
			return plans, fmt.Errorf("fine level %d: %w", i, err)
		}
		if i+1 < len(lad.fine) {
			split = c.splitParents(l, i+1, c.touched(deltas, lad.widths[i], lad.widths[i+1], split), minTop)
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

// splitParents returns, ascending, the buckets of level i-1 of ladder l
// (the top series for 0) that parentOps (sorted by bucket, see touched)
// change and that are split after them: split already, or crossing the
// threshold with no events before. Those crossing it with events before
// are added to c.pending. At level 0, buckets numbered below minTop are
// left whole.
func (c *Counts) splitParents(l, i int, parentOps []op[uint64], minTop int64) []int64 {
	var split []int64
	series := c.parentSeries(l, i)
	for j := 0; j < len(parentOps); {
		p := parentOps[j].b
		var d int64
		for ; j < len(parentOps) && parentOps[j].b == p; j++ {
			d += parentOps[j].n
		}
		if i == 0 && p < minTop {
			continue
		}
		switch old := seriesTotal(series, p); {
		case c.hasChildren(l, i, p):
			split = append(split, p)
		case old+d <= c.splitAt():
		case old == 0:
			split = append(split, p)
		default:
			// A set, not a list: a rebuild of the counts in many
			// batches of events in random order meets every dense
			// bucket in every batch.
			if c.pending == nil {
				c.pending = map[[3]int64]Span{}
			}
			w := c.ladders[l].widths[i]
			c.pending[[3]int64{int64(l), int64(i), p}] = Span{Ladder: l, Level: i, Num: p, FromMS: bucketStart(p, w), ToMS: bucketEnd(p, w)}
		}
	}
	return split
}

// levelOps returns the summed ops of level i of ladder l of the deltas
// whose parent bucket is in split (ascending).
func (c *Counts) levelOps(l, i int, deltas []Delta, split []int64) []op[uint64] {
	pw, w := c.ladders[l].widths[i], c.ladders[l].widths[i+1]
	ops := make([]op[uint64], 0, len(deltas))
	last, have, in := int64(0), false, false
	for k := range deltas {
		d := &deltas[k]
		if d.N == 0 {
			continue
		}
		if p := floorDiv(d.TimeMS, pw); !have || p != last {
			_, in = slices.BinarySearch(split, p)
			last, have = p, true
		}
		if in {
			ops = append(ops, op[uint64]{floorDiv(d.TimeMS, w), entryKey(l, d), d.N})
		}
	}
	ops, c.tmp = sumOps(ops, c.tmp)
	return ops
}

// installFine installs plans made by planFine for ladder l, then drops the
// finer counts of the top buckets numbered below minTop; it runs under wmu
// and mu.
func (c *Counts) installFine(l int, plans finePlan, minTop int64) {
	lad := &c.ladders[l]
	for i := range plans {
		if len(plans[i]) > 0 {
			lad.fine[i] = installSeries(lad.fine[i], plans[i])
		}
	}
	if l == siteLadder || minTop <= firstDay {
		return
	}
	for i := range lad.fine {
		// The first child of top bucket minTop at this level.
		first := floorDiv(bucketStart(minTop, lad.widths[0]), lad.widths[i+1])
		s := lad.fine[i]
		if j, _ := slices.BinarySearchFunc(s, first, func(b bucket[uint64], n int64) int { return cmp.Compare(b.num, n) }); j > 0 {
			lad.fine[i] = slices.Clone(s[j:])
		}
	}
}

// minDay is the first day the device ladder splits when the device table's
// ops are devOps (of day buckets): one of the recentDays newest days of the
// counts.
func (c *Counts) minDay(devOps []op[uint64]) int64 {
	newest := firstDay
	if n := len(c.devDays); n > 0 {
		newest = c.devDays[n-1].num
	}
	if n := len(devOps); n > 0 {
		newest = max(newest, devOps[n-1].b)
	}
	if newest < firstDay+recentDays {
		return firstDay
	}
	return newest - recentDays + 1
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
		return cmp.Or(cmp.Compare(a.Ladder, b.Ladder), cmp.Compare(a.Level, b.Level), cmp.Compare(a.Num, b.Num))
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
// are no longer at seq, or the span no longer is to be split (ErrStale).
func (c *Counts) Refine(sp Span, seq int64, deltas []Delta) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if sp.Ladder != siteLadder && sp.Ladder != deviceLadder || sp.Level < 0 || sp.Level >= len(c.ladders[sp.Ladder].fine) {
		return fmt.Errorf("%w: span ladder %d level %d", ErrInvalid, sp.Ladder, sp.Level)
	}
	minTop := int64(math.MinInt64)
	if sp.Ladder == deviceLadder {
		minTop = c.minDay(nil)
	}
	if c.seq != seq || c.hasChildren(sp.Ladder, sp.Level, sp.Num) {
		return ErrStale
	}
	lad := &c.ladders[sp.Ladder]
	pw := lad.widths[sp.Level]
	if top := floorDiv(bucketStart(sp.Num, pw), lad.widths[0]); top < minTop {
		return ErrStale
	}
	var n int64
	for _, d := range deltas {
		if floorDiv(d.TimeMS, pw) != sp.Num {
			return fmt.Errorf("%w: delta at %d outside the span %d..%d", ErrInvalid, d.TimeMS, sp.FromMS, sp.ToMS)
		}
		n += d.N
	}
	if want := seriesTotal(c.parentSeries(sp.Ladder, sp.Level), sp.Num); n != want {
		return fmt.Errorf("%w: the span %d..%d holds %d events, the counts say %d", ErrInvalid, sp.FromMS, sp.ToMS, n, want)
	}
	plans, err := c.planFine(sp.Ladder, sp.Level, deltas, nil, &sp.Num, minTop)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installFine(sp.Ladder, plans, minTop)
	return nil
}

// partial visits the buckets of [lo, hi], a part of bucket p of level i-1
// of ladder l (of its top series for 0): where p is split, whole children
// through whole (a range of bucket numbers of series s, width w) and the
// partial children at the edges further down; where it is not, [lo, hi]
// through rest, for the caller to count.
func (c *Counts) partial(l, i int, p, lo, hi int64, whole func(s []bucket[uint64], first, last, w int64), rest func(lo, hi int64)) {
	lad := &c.ladders[l]
	if i >= len(lad.fine) || !c.hasChildren(l, i, p) {
		rest(lo, hi)
		return
	}
	w := lad.widths[i+1]
	c0, c1 := floorDiv(lo, w), floorDiv(hi, w)
	wholeFirst := lo == bucketStart(c0, w)
	wholeLast := hi == bucketEnd(c1, w)
	if c0 == c1 && !(wholeFirst && wholeLast) {
		c.partial(l, i+1, c0, lo, hi, whole, rest)
		return
	}
	first, last := c0, c1
	if !wholeFirst {
		c.partial(l, i+1, c0, lo, bucketEnd(c0, w), whole, rest)
		first++
	}
	if !wholeLast {
		last--
	}
	if first <= last {
		whole(lad.fine[i], first, last, w)
	}
	if !wholeLast {
		c.partial(l, i+1, c1, bucketStart(c1, w), hi, whole, rest)
	}
}

// partialBuckets appends the buckets of partial of the site ladder for a
// Buckets answer.
func (c *Counts) partialBuckets(out []Bucket, f *filter, i int, p, lo, hi int64) []Bucket {
	c.partial(siteLadder, i, p, lo, hi, func(s []bucket[uint64], first, last, w int64) {
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
	if width == dayMS {
		return c.hourBuckets(nil, &f, b.FromMS, b.ToMS), true
	}
	widths := c.ladders[siteLadder].widths
	i := slices.Index(widths, width)
	if i < 0 || i >= len(c.ladders[siteLadder].fine) {
		return nil, true
	}
	p := floorDiv(b.FromMS, width)
	if b.FromMS != bucketStart(p, width) || !c.hasChildren(siteLadder, i, p) {
		return nil, true
	}
	first, last := c.childRange(siteLadder, i, p)
	return walk(nil, c.ladders[siteLadder].fine[i], first, last, widths[i+1], func(b *bucket[uint64]) int64 { return sumSites(&b.table, b.total, &f) }), true
}

// checkFine checks, for a loaded snapshot, that every split bucket's
// children sum to its total.
func (c *Counts) checkFine() error {
	for l := range c.ladders {
		lad := &c.ladders[l]
		for i := range lad.fine {
			parents := c.parentSeries(l, i)
			s := lad.fine[i]
			pw, w := lad.widths[i], lad.widths[i+1]
			for j := 0; j < len(s); {
				p := floorDiv(bucketStart(s[j].num, w), pw)
				var n int64
				for ; j < len(s) && floorDiv(bucketStart(s[j].num, w), pw) == p; j++ {
					n += s[j].total
				}
				if want := seriesTotal(parents, p); n != want {
					return fmt.Errorf("%w: ladder %d level %d: the children of bucket %d hold %d events, the bucket %d", errCorrupt, l, i, p, n, want)
				}
			}
		}
	}
	return nil
}
