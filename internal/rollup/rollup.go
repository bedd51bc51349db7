// Package rollup keeps exact per-bucket event counts in memory, so that the
// BAS-IP and AIPIX APIs can answer an exact total, and find the start of
// offset page k, in well under a millisecond at 10 million events: a total is
// a sum over buckets, and page k is found by walking bucket counts, then a
// short scan inside one bucket done by the caller.
//
// There are two count tables:
//
//   - site level: counts by (site, kind) per hour, and the same aggregated
//     per day, for selections without a device filter;
//   - device level: counts by (device, kind) per day, for selections with a
//     device filter. Devices never move between sites, so the counts keep
//     each device's site once, learnt from the deltas, rather than in every
//     entry, and a selection of devices and sites still means both.
//
// Each bucket is a sparse slice of entries sorted by a packed uint64 key
// (site<<32 | kind, or device<<32 | kind) with uint32 counts, not a Go map:
// at 10 million events there are more than a million entries, and maps would
// cost several times the memory and be slower to walk. Every code is 32
// bits, so any site, device and kind the store can number fits, however
// many kinds its senders invent. Buckets are kept in a slice sorted by
// bucket number, so a time window is one binary search and a contiguous
// walk, and times far from the others (a device whose clock is wrong) cost
// one bucket, not a dense array spanning the gap. Whole-axis totals per
// (site, kind) and per (device, kind) are kept too, so an unwindowed total
// does not walk the days at all.
//
// The single writer calls Apply right after each commit; readers call
// Buckets and Total concurrently. Apply does its sorting and merging while
// holding only a writer mutex, so readers are blocked only while it installs
// the result. Apply refuses input it cannot count exactly with an error,
// never a panic: it runs after a commit, where a panic would take the
// process down with the commit unacknowledged.
package rollup

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"
)

const (
	hourMS = 3_600_000
	dayMS  = 24 * hourMS

	// maxScratch is the most deltas whose scratch space Apply keeps for the
	// next batch: more than any ingest batch.
	maxScratch = 1 << 16
)

// pack is the key of a (site, kind) or (device, kind) entry.
func pack(hi, kind uint32) uint64 { return uint64(hi)<<32 | uint64(kind) }

// Delta is one event's contribution to the counts, the unit the writer has
// at hand after a commit. N may be greater than 1 for several events of the
// same dimensions in the same hour, and negative when events are deleted
// (by a retention job), so that the counts stay exact either way.
type Delta struct {
	// TimeMS is the event time in Unix milliseconds; it may be negative.
	TimeMS int64
	// Site is the site code; 0 is the server's own events, which have none.
	// A device's deltas always carry the same site.
	Site uint32
	// Device is the device code; 0 is a server event.
	Device uint32
	// Kind is the code of the event's (key, category, priority)
	// combination.
	Kind uint32
	// N is the number of events; |N| must be below 2^32.
	N int64
}

// Selection names the events a query counts, the way the APIs filter: by
// site (an account's scope), by device, and by kind (event keys and
// categories resolved to kind codes). A nil slice means any value; a non-nil
// slice is a set, so an empty one selects nothing. With both Devices and
// Sites set, a device is selected when its site is one of Sites.
type Selection struct {
	Sites, Devices, Kinds []uint32
}

// Bucket is one piece of a time window, in the order events are listed, so
// that a caller can skip whole buckets to reach an offset. FromMS and ToMS
// are both inclusive. An Exact bucket's N is the exact number of selected
// events in it; a bucket that is not exact is a partial edge of the window,
// which the counts cannot split, and the caller must count it itself (its N
// is 0).
type Bucket struct {
	FromMS, ToMS int64
	N            int64
	Exact        bool
}

// Counts holds the counts. It is safe for concurrent use by one writer
// (Apply, UnmarshalBinary) and many readers: readers see each Apply whole,
// together with its version.
type Counts struct {
	// wmu serialises writers, and readers of the whole tables
	// (MarshalBinary, Size): the tables change only under both wmu and mu,
	// so holding either one is enough to read them. Apply prepares its
	// changes under wmu alone and blocks readers only while it installs
	// them.
	wmu sync.Mutex
	// hourOps and the rest are the writer's scratch space,
	// kept between Apply calls so that a batch allocates little.
	hourOps, dayOps, siteAllOps, devOps, devAllOps, tmp []op[uint64]
	// split is the threshold of the fine levels (0: DefaultSplit), and
	// pending the buckets waiting for the caller to recount them (see
	// fine.go); both are the writer's.
	split   int64
	pending map[[3]int64]Span

	mu  sync.RWMutex
	seq int64
	// hours and days are the site-level table, keyed site<<32 | kind.
	hours, days []bucket[uint64]
	// devDays is the device-level table, keyed device<<32 | kind.
	devDays []bucket[uint64]
	// ladders are the finer counts where the events are dense, below the
	// hours and below the device table's days (fine.go).
	ladders [2]ladder
	// sites and devs are the whole-axis totals of the two tables, and
	// total is the number of events, for unwindowed totals.
	sites table[uint64, uint64]
	devs  table[uint64, uint64]
	total int64
	// devSites is the site of every device the deltas named.
	devSites deviceSites
	// maxKind is the largest kind ever counted, which sizes the sums by
	// kind of HoursByKind.
	maxKind uint32
}

// New returns empty counts at version 0, for a store without events or
// before a snapshot is loaded into it.
func New() *Counts {
	return &Counts{ladders: newLadders()}
}

// Seq is the version of the counts: every event with seq <= Seq() is
// counted, none after, so a caller knows which newer events it must still
// count itself.
func (c *Counts) Seq() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.seq
}

// ErrInvalid is the error Apply wraps for input it refuses: a seq below the
// current version, |N| of 2^32 or more, a count that would go below zero or
// above 2^32-1, or a device in another site than its earlier deltas said.
// Each means the caller's counts would no longer be exact.
var ErrInvalid = errors.New("rollup: invalid delta")

// Apply adds deltas to the counts and sets the version to seq (the newest
// event seq they include), atomically for readers, so that a reader never
// sees the counts of a half-applied commit or a version that does not match
// them. Apply(seq, nil) only moves the version.
//
// Apply returns an error wrapping ErrInvalid, leaving the counts unchanged,
// for input it cannot count exactly (see ErrInvalid); it never panics.
func (c *Counts) Apply(seq int64, deltas []Delta) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if seq < c.seq {
		return fmt.Errorf("%w: seq %d is below the current version %d", ErrInvalid, seq, c.seq)
	}
	for _, d := range deltas {
		if d.N > math.MaxUint32 || d.N < -math.MaxUint32 {
			return fmt.Errorf("%w: delta %+v: |N| must be below 2^32", ErrInvalid, d)
		}
	}
	newDevs, err := c.devSites.plan(deltas)
	if err != nil {
		return err
	}

	// Turn the deltas into sorted, summed changes of each table.
	hourOps, devOps := c.hourOps[:0], c.devOps[:0]
	maxKind := c.maxKind
	for _, d := range deltas {
		if d.N == 0 {
			continue
		}
		maxKind = max(maxKind, d.Kind)
		h := floorDiv(d.TimeMS, hourMS)
		hourOps = append(hourOps, op[uint64]{h, pack(d.Site, d.Kind), d.N})
		devOps = append(devOps, op[uint64]{floorDiv(h, 24), pack(d.Device, d.Kind), d.N})
	}
	hourOps, c.tmp = sumOps(hourOps, c.tmp)
	devOps, c.tmp = sumOps(devOps, c.tmp)
	dayOps := c.dayOps[:0]
	for _, o := range hourOps {
		dayOps = append(dayOps, op[uint64]{floorDiv(o.b, 24), o.k, o.n})
	}
	dayOps, c.tmp = sumOps(dayOps, c.tmp)
	siteAllOps := c.siteAllOps[:0]
	for _, o := range dayOps {
		siteAllOps = append(siteAllOps, op[uint64]{0, o.k, o.n})
	}
	siteAllOps, c.tmp = sumOps(siteAllOps, c.tmp)
	devAllOps := c.devAllOps[:0]
	for _, o := range devOps {
		devAllOps = append(devAllOps, op[uint64]{0, o.k, o.n})
	}
	devAllOps, c.tmp = sumOps(devAllOps, c.tmp)
	c.hourOps, c.dayOps, c.siteAllOps, c.devOps, c.devAllOps = hourOps, dayOps, siteAllOps, devOps, devAllOps
	if cap(c.hourOps) > maxScratch {
		// An exceptional batch (a rebuild from the events) is not worth
		// its memory afterwards.
		defer func() {
			c.hourOps, c.dayOps, c.siteAllOps, c.devOps, c.devAllOps, c.tmp = nil, nil, nil, nil, nil, nil
		}()
	}

	// Plan every change against the current tables, failing before any of
	// them is made. Only this writer changes the tables, so they can be
	// read here without mu.
	hourPlans, err := planSeries(c.hours, hourOps)
	if err != nil {
		return fmt.Errorf("%w: hour table: %w", ErrInvalid, err)
	}
	dayPlans, err := planSeries(c.days, dayOps)
	if err != nil {
		return fmt.Errorf("%w: day table: %w", ErrInvalid, err)
	}
	devPlans, err := planSeries(c.devDays, devOps)
	if err != nil {
		return fmt.Errorf("%w: device table: %w", ErrInvalid, err)
	}
	sitePlans, err := c.planFine(siteLadder, 0, deltas, hourOps, nil, math.MinInt64)
	if err != nil {
		return fmt.Errorf("%w: site ladder: %w", ErrInvalid, err)
	}
	minDay := c.minDay(devOps)
	devFinePlans, err := c.planFine(deviceLadder, 0, deltas, devOps, nil, minDay)
	if err != nil {
		return fmt.Errorf("%w: device ladder: %w", ErrInvalid, err)
	}
	sitesPlan, err := planTable(&c.sites, siteAllOps)
	if err != nil {
		return fmt.Errorf("%w: site totals: %w", ErrInvalid, err)
	}
	devsPlan, err := planTable(&c.devs, devAllOps)
	if err != nil {
		return fmt.Errorf("%w: device totals: %w", ErrInvalid, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.hours = installSeries(c.hours, hourPlans)
	c.days = installSeries(c.days, dayPlans)
	c.devDays = installSeries(c.devDays, devPlans)
	c.installFine(siteLadder, sitePlans, math.MinInt64)
	c.installFine(deviceLadder, devFinePlans, minDay)
	sitesPlan.install(&c.sites)
	devsPlan.install(&c.devs)
	c.devSites.install(newDevs)
	c.maxKind = maxKind
	c.total += sitesPlan.dTotal
	c.seq = seq
	return nil
}

// Buckets returns, in ascending time order, the buckets covering [fromMS,
// toMS] for sel, and the version of the counts they come from (read under the
// same lock, so the caller knows exactly which events they include).
//
// With sel.Devices set the granularity is the day: whole days are exact
// buckets and a partial day at either edge is one non-exact bucket.
// Otherwise whole days inside the window are exact day buckets, and a
// partial day at an edge is split into exact whole hours plus the partial
// hour at the edge, itself exact in finer buckets down to one non-exact
// bucket where the hour is dense (fine.go), or one non-exact bucket where
// it is not. Exact buckets with N == 0 are left out; non-exact ones are
// always returned, since only the caller can count them.
//
// fromMS = math.MinInt64 and toMS = math.MaxInt64 mean an open window: the
// first and last buckets of the time axis then start and end there, so an
// open end is never a partial edge, and only buckets holding events are
// returned. A window with fromMS > toMS is empty.
func (c *Counts) Buckets(sel Selection, fromMS, toMS int64) ([]Bucket, int64) {
	f := newFilter(sel)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if fromMS > toMS {
		return nil, c.seq
	}
	if f.byDevice {
		return c.deviceBuckets(nil, &f, fromMS, toMS), c.seq
	}
	return c.siteBuckets(nil, &f, fromMS, toMS), c.seq
}

// Total returns the number of events sel selects on the whole time axis
// (the sum of the exact buckets of Buckets(sel, math.MinInt64,
// math.MaxInt64)), and the version it is from, without walking the buckets:
// it is the fast path for an unwindowed total.
func (c *Counts) Total(sel Selection) (n, seq int64) {
	f := newFilter(sel)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if f.byDevice {
		return sumDevices(c, &c.devs, &f), c.seq
	}
	if f.anySite && f.anyKind {
		return c.total, c.seq
	}
	return sumSites(&c.sites, c.total, &f), c.seq
}

// NewestDay returns how many events the newest day of the counts holds (0
// without events), so that a caller can tell a busy present from a quiet
// one before choosing how to read it.
func (c *Counts) NewestDay() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := len(c.devDays); n > 0 {
		return c.devDays[n-1].total
	}
	return 0
}

// Size returns the number of count entries (of the hour, day and device
// tables and the whole-axis totals) and the approximate bytes the counts
// take, the writer's scratch space included, for memory checks. Like
// MarshalBinary, it waits for the writer rather than blocking readers.
func (c *Counts) Size() (entries int, bytes int64) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	e1, b1 := seriesSize(c.hours)
	e2, b2 := seriesSize(c.days)
	e3, b3 := seriesSize(c.devDays)
	e4, b4 := c.sites.size()
	e5, b5 := c.devs.size()
	for _, lad := range c.ladders {
		for _, s := range lad.fine {
			e, b := seriesSize(s)
			e5, b5 = e5+e, b5+b
		}
	}
	scratch := int64(cap(c.hourOps)+cap(c.dayOps)+cap(c.siteAllOps)+cap(c.devOps)+cap(c.devAllOps)+cap(c.tmp)) * int64(unsafe.Sizeof(op[uint64]{}))
	return e1 + e2 + e3 + e4 + e5, b1 + b2 + b3 + b4 + b5 + c.devSites.bytes() + scratch + int64(unsafe.Sizeof(*c)) + int64(len(c.pending))*int64(unsafe.Sizeof(Span{})+16)
}

// siteBuckets appends the site-level buckets of [from, to] (from <= to):
// whole days, and the partial days at the edges split into hours.
func (c *Counts) siteBuckets(out []Bucket, f *filter, from, to int64) []Bucket {
	d0, d1 := floorDiv(from, dayMS), floorDiv(to, dayMS)
	wholeFirst := from == bucketStart(d0, dayMS)
	wholeLast := to == bucketEnd(d1, dayMS)
	if d0 == d1 && !(wholeFirst && wholeLast) {
		return c.hourBuckets(out, f, from, to)
	}
	first, last := d0, d1
	if !wholeFirst {
		out = c.hourBuckets(out, f, from, bucketEnd(d0, dayMS))
		first++
	}
	if !wholeLast {
		last--
	}
	out = walk(out, c.days, first, last, dayMS, func(b *bucket[uint64]) int64 {
		return sumSites(&b.table, b.total, f)
	})
	if !wholeLast {
		out = c.hourBuckets(out, f, bucketStart(d1, dayMS), to)
	}
	return out
}

// hourBuckets appends the buckets of [from, to], which lie in one day:
// whole hours, and partial hours at the edges, exact in their finer
// buckets where the hour is split, non-exact where it is not.
func (c *Counts) hourBuckets(out []Bucket, f *filter, from, to int64) []Bucket {
	h0, h1 := floorDiv(from, hourMS), floorDiv(to, hourMS)
	wholeFirst := from == bucketStart(h0, hourMS)
	wholeLast := to == bucketEnd(h1, hourMS)
	if h0 == h1 && !(wholeFirst && wholeLast) {
		return c.partialBuckets(out, f, 0, h0, from, to)
	}
	first, last := h0, h1
	if !wholeFirst {
		out = c.partialBuckets(out, f, 0, h0, from, bucketEnd(h0, hourMS))
		first++
	}
	if !wholeLast {
		last--
	}
	out = walk(out, c.hours, first, last, hourMS, func(b *bucket[uint64]) int64 {
		return sumSites(&b.table, b.total, f)
	})
	if !wholeLast {
		out = c.partialBuckets(out, f, 0, h1, bucketStart(h1, hourMS), to)
	}
	return out
}

// deviceBuckets appends the device-level buckets of [from, to] (from <=
// to): whole days, and a non-exact bucket for a partial day at each edge.
func (c *Counts) deviceBuckets(out []Bucket, f *filter, from, to int64) []Bucket {
	d0, d1 := floorDiv(from, dayMS), floorDiv(to, dayMS)
	wholeFirst := from == bucketStart(d0, dayMS)
	wholeLast := to == bucketEnd(d1, dayMS)
	if d0 == d1 && !(wholeFirst && wholeLast) {
		return append(out, Bucket{FromMS: from, ToMS: to})
	}
	first, last := d0, d1
	if !wholeFirst {
		out = append(out, Bucket{FromMS: from, ToMS: bucketEnd(d0, dayMS)})
		first++
	}
	if !wholeLast {
		last--
	}
	out = walk(out, c.devDays, first, last, dayMS, func(b *bucket[uint64]) int64 {
		return sumDevices(c, &b.table, f)
	})
	if !wholeLast {
		out = append(out, Bucket{FromMS: bucketStart(d1, dayMS), ToMS: to})
	}
	return out
}

// walk appends an exact bucket for each stored bucket numbered first
// through last whose sum is not zero. Only stored buckets are visited, so an
// open window costs what the events cost, not what the time axis spans.
func walk[K key](out []Bucket, s []bucket[K], first, last, width int64, sum func(*bucket[K]) int64) []Bucket {
	if first > last {
		return out
	}
	i, _ := slices.BinarySearchFunc(s, first, func(b bucket[K], n int64) int { return cmp.Compare(b.num, n) })
	for ; i < len(s) && s[i].num <= last; i++ {
		if n := sum(&s[i]); n != 0 {
			out = append(out, Bucket{FromMS: bucketStart(s[i].num, width), ToMS: bucketEnd(s[i].num, width), N: n, Exact: true})
		}
	}
	return out
}

// floorDiv is integer division rounding down (b > 0), so that a time before
// 1970 falls in the hour and day it is in.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// The first and last bucket numbers of the time axis for each width. Their
// buckets are clamped to the int64 range, which is also what makes an open
// window end (math.MinInt64 or math.MaxInt64) a bucket boundary.
var (
	firstHour, lastHour = floorDiv(math.MinInt64, hourMS), floorDiv(math.MaxInt64, hourMS)
	firstDay, lastDay   = floorDiv(math.MinInt64, dayMS), floorDiv(math.MaxInt64, dayMS)
)

// bucketStart is the first millisecond of bucket n of the given width.
func bucketStart(n, width int64) int64 {
	if n <= floorDiv(math.MinInt64, width) {
		return math.MinInt64
	}
	return n * width
}

// bucketEnd is the last millisecond of bucket n of the given width.
func bucketEnd(n, width int64) int64 {
	if n >= floorDiv(math.MaxInt64, width) {
		return math.MaxInt64
	}
	return n*width + width - 1
}

// filter is a Selection prepared for summing: sorted sets, and the kinds
// as a bitmap or, when the largest selected kind would make the bitmap
// large for the few kinds selected, a sorted set.
//
// The loops over entries test a kind with the inlined expression
// kindBit(f.kindBits, k) != 0 || f.slow && f.inKindSet(k): a function
// holding both would be too large for the compiler to inline.
type filter struct {
	byDevice         bool
	anySite, anyKind bool
	sites, devices   []uint32
	// kindBits is the bitmap of selected kinds, with one more word than
	// the largest selected kind needs, always zero, which every larger
	// kind reads (see kindBit). It is one word of ones when every kind is
	// selected, and one zero word when kindSet is used.
	kindBits []uint64
	// slow says the selected kinds are in kindSet, sorted.
	slow    bool
	kindSet []uint32
}

// maxBitmapWords is the size of a kind bitmap (8 KiB) that is always
// acceptable; a larger one must be at most a few words per selected kind.
const maxBitmapWords = 1024

func newFilter(sel Selection) filter {
	f := filter{byDevice: sel.Devices != nil, anySite: sel.Sites == nil, anyKind: sel.Kinds == nil}
	if !f.anySite {
		f.sites = sortedSet(sel.Sites)
	}
	if f.byDevice {
		f.devices = sortedSet(sel.Devices)
	}
	if f.anyKind {
		f.kindBits = []uint64{^uint64(0)}
		return f
	}
	var top uint32
	for _, k := range sel.Kinds {
		top = max(top, k)
	}
	if words := int(top/64) + 2; words <= max(maxBitmapWords, 4*len(sel.Kinds)) {
		f.kindBits = make([]uint64, words)
		for _, k := range sel.Kinds {
			f.kindBits[k/64] |= 1 << (k % 64)
		}
	} else {
		f.kindBits, f.slow, f.kindSet = []uint64{0}, true, sortedSet(sel.Kinds)
	}
	return f
}

// sortedSet returns the distinct values of s, sorted, in a new slice (never
// nil), so that summing can walk keys in order.
func sortedSet(s []uint32) []uint32 {
	out := slices.Clone(s)
	if out == nil {
		out = []uint32{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// kindBit is 1 when the bitmap selects kind k, else 0: a kind beyond the
// bitmap reads its last word, which is zero, so that the hot loops need no
// branch.
func kindBit(bits []uint64, k uint32) uint64 {
	w := min(int(k/64), len(bits)-1)
	return bits[w] >> (k % 64) & 1
}

// inKindSet reports whether kindSet holds k, for a slow filter.
func (f *filter) inKindSet(k uint32) bool {
	_, ok := slices.BinarySearch(f.kindSet, k)
	return ok
}

// sumSites is the number of events of a site-level table that f selects;
// total is the sum of the whole table.
func sumSites[C count](t *table[uint64, C], total int64, f *filter) int64 {
	if f.anySite && f.anyKind {
		return total
	}
	var n int64
	if f.anySite {
		counts := t.counts[:len(t.keys)]
		if !f.slow {
			// The hot loop of a kind filter over many buckets:
			// branch-free.
			bits := f.kindBits
			for i, k := range t.keys {
				n += int64(counts[i]) & -int64(kindBit(bits, uint32(k)))
			}
			return n
		}
		for i, k := range t.keys {
			if f.inKindSet(uint32(k)) {
				n += int64(counts[i])
			}
		}
		return n
	}
	keys := t.keys
	i := 0
	for _, s := range f.sites {
		j, _ := slices.BinarySearch(keys[i:], pack(s, 0))
		i += j
		for ; i < len(keys) && uint32(keys[i]>>32) == s; i++ {
			if k := uint32(keys[i]); kindBit(f.kindBits, k) != 0 || f.slow && f.inKindSet(k) {
				n += int64(t.counts[i])
			}
		}
	}
	return n
}

// siteSelected reports whether f selects the events of device d, by its
// site; it is for selections of devices, so it reads the device sites
// (under c.mu).
func (c *Counts) siteSelected(f *filter, d uint32) bool {
	return f.anySite || c.siteOfDeviceSelected(f, d)
}

func (c *Counts) siteOfDeviceSelected(f *filter, d uint32) bool {
	s, ok := c.devSites.get(d)
	if !ok {
		return false
	}
	_, ok = slices.BinarySearch(f.sites, s)
	return ok
}

// sumDevices is the number of events of a device-level table of c that f
// selects: one binary search per selected device, then its few entries.
func sumDevices[C count](c *Counts, t *table[uint64, C], f *filter) int64 {
	var n int64
	keys := t.keys
	i := 0
	for _, d := range f.devices {
		j, _ := slices.BinarySearch(keys[i:], pack(d, 0))
		i += j
		if !c.siteSelected(f, d) {
			continue
		}
		for ; i < len(keys) && uint32(keys[i]>>32) == d; i++ {
			if k := uint32(keys[i]); kindBit(f.kindBits, k) != 0 || f.slow && f.inKindSet(k) {
				n += int64(t.counts[i])
			}
		}
	}
	return n
}
