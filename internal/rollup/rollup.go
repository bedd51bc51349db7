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
//   - device level: counts by (device, site, kind) per day, for selections
//     with a device filter (the site is part of the key because an event keeps
//     the site its device had when it was stored, and a scoped caller selects
//     both).
//
// Each bucket is a sparse slice of entries sorted by a packed key (site<<12 |
// kind, or device<<32 | site<<12 | kind) with uint32 counts, not a Go map: at
// 10 million events there are more than a million entries, and maps would
// cost several times the memory and be slower to walk. Buckets are kept in a
// slice sorted by bucket number, so a time window is one binary search and a
// contiguous walk, and times far from the others (a device whose clock is
// wrong) cost one bucket, not a dense array spanning the gap. Whole-axis
// totals per (site, kind) and per (device, site, kind) are kept too, so an
// unwindowed total does not walk the days at all.
//
// The single writer calls Apply right after each commit; readers call
// Buckets and Total concurrently. Apply does its sorting and merging while
// holding only a writer mutex, so readers are blocked only while it installs
// the result.
package rollup

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"
)

const (
	hourMS = 3_600_000
	dayMS  = 24 * hourMS

	// kindBits is the width of a kind code in a packed key: the store's
	// (key, category, priority) combinations are far fewer than 4096.
	kindBits = 12
	kindMask = 1<<kindBits - 1
	maxKind  = kindMask
	// siteBits is the width of a site code in a packed key. Site codes are
	// the store's rowids, dense from 1, so 2^20 sites is far beyond any
	// deployment, and (site, kind) then fits a uint32 key, which halves the
	// memory of the largest table.
	siteBits = 20
	maxSite  = 1<<siteBits - 1

	// maxScratch is the most deltas whose scratch space Apply keeps for the
	// next batch: more than any ingest batch.
	maxScratch = 1 << 16
)

// Delta is one event's contribution to the counts, the unit the writer has
// at hand after a commit. N may be greater than 1 for several events of the
// same dimensions in the same hour, and negative when events are deleted
// (by a retention job), so that the counts stay exact either way.
type Delta struct {
	// TimeMS is the event time in Unix milliseconds; it may be negative.
	TimeMS int64
	// Site is the site code; 0 is the server's own events, which have none.
	// It must be below 2^20.
	Site uint32
	// Device is the device code; 0 is a server event.
	Device uint32
	// Kind is the code of the event's (key, category, priority)
	// combination; it must be below 4096.
	Kind uint32
	// N is the number of events; |N| must be below 2^32.
	N int64
}

// Selection names the events a query counts, the way the APIs filter: by
// site (an account's scope), by device, and by kind (event keys and
// categories resolved to kind codes). A nil slice means any value; a non-nil
// slice is a set, so an empty one selects nothing. Values that cannot occur
// (a kind of 4096 or more, a site of 2^20 or more) match nothing.
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
	hourOps, dayOps, siteAllOps, tmp32 []op[uint32]
	devOps, devAllOps, tmp64           []op[uint64]

	mu  sync.RWMutex
	seq int64
	// hours and days are the site-level table, keyed site<<12 | kind.
	hours, days []bucket[uint32]
	// devDays is the device-level table, keyed device<<32 | site<<12 | kind.
	devDays []bucket[uint64]
	// sites and devs are the whole-axis totals of the two tables, and
	// total is the number of events, for unwindowed totals.
	sites table[uint32, uint64]
	devs  table[uint64, uint64]
	total int64
}

// New returns empty counts at version 0, for a store without events or
// before a snapshot is loaded into it.
func New() *Counts {
	return &Counts{}
}

// Seq is the version of the counts: every event with seq <= Seq() is
// counted, none after, so a caller knows which newer events it must still
// count itself.
func (c *Counts) Seq() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.seq
}

// Apply adds deltas to the counts and sets the version to seq (the newest
// event seq they include), atomically for readers, so that a reader never
// sees the counts of a half-applied commit or a version that does not match
// them. Apply(seq, nil) only moves the version.
//
// Apply panics, leaving the counts unchanged, on a delta out of range (see
// Delta), on a count that would go below zero or above 2^32-1, and on a seq
// below the current version: each is a bug in the caller after which the
// counts would no longer be exact.
func (c *Counts) Apply(seq int64, deltas []Delta) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if seq < c.seq {
		panic(fmt.Sprintf("rollup: Apply of seq %d below the current version %d", seq, c.seq))
	}
	for _, d := range deltas {
		if d.Kind > maxKind || d.Site > maxSite || d.N > math.MaxUint32 || d.N < -math.MaxUint32 {
			panic(fmt.Sprintf("rollup: delta %+v out of range (kind < %d, site < %d, |N| < 2^32)", d, maxKind+1, maxSite+1))
		}
	}

	// Turn the deltas into sorted, summed changes of each table.
	hourOps, devOps := c.hourOps[:0], c.devOps[:0]
	for _, d := range deltas {
		if d.N == 0 {
			continue
		}
		sk := d.Site<<kindBits | d.Kind
		h := floorDiv(d.TimeMS, hourMS)
		hourOps = append(hourOps, op[uint32]{h, sk, d.N})
		devOps = append(devOps, op[uint64]{floorDiv(h, 24), uint64(d.Device)<<32 | uint64(sk), d.N})
	}
	hourOps, c.tmp32 = sumOps(hourOps, c.tmp32)
	devOps, c.tmp64 = sumOps(devOps, c.tmp64)
	dayOps := c.dayOps[:0]
	for _, o := range hourOps {
		dayOps = append(dayOps, op[uint32]{floorDiv(o.b, 24), o.k, o.n})
	}
	dayOps, c.tmp32 = sumOps(dayOps, c.tmp32)
	siteAllOps := c.siteAllOps[:0]
	for _, o := range dayOps {
		siteAllOps = append(siteAllOps, op[uint32]{0, o.k, o.n})
	}
	siteAllOps, c.tmp32 = sumOps(siteAllOps, c.tmp32)
	devAllOps := c.devAllOps[:0]
	for _, o := range devOps {
		devAllOps = append(devAllOps, op[uint64]{0, o.k, o.n})
	}
	devAllOps, c.tmp64 = sumOps(devAllOps, c.tmp64)
	c.hourOps, c.dayOps, c.siteAllOps, c.devOps, c.devAllOps = hourOps, dayOps, siteAllOps, devOps, devAllOps
	if cap(c.hourOps) > maxScratch {
		// An exceptional batch (a rebuild from the events) is not worth
		// its memory afterwards.
		defer func() {
			c.hourOps, c.dayOps, c.siteAllOps, c.tmp32, c.devOps, c.devAllOps, c.tmp64 = nil, nil, nil, nil, nil, nil, nil
		}()
	}

	// Plan every change against the current tables, failing before any of
	// them is made. Only this writer changes the tables, so they can be
	// read here without mu.
	hourPlans, err := planSeries(c.hours, hourOps)
	if err != nil {
		panic("rollup: hour table: " + err.Error())
	}
	dayPlans, err := planSeries(c.days, dayOps)
	if err != nil {
		panic("rollup: day table: " + err.Error())
	}
	devPlans, err := planSeries(c.devDays, devOps)
	if err != nil {
		panic("rollup: device table: " + err.Error())
	}
	sitesPlan, err := planTable(&c.sites, siteAllOps)
	if err != nil {
		panic("rollup: site totals: " + err.Error())
	}
	devsPlan, err := planTable(&c.devs, devAllOps)
	if err != nil {
		panic("rollup: device totals: " + err.Error())
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.hours = installSeries(c.hours, hourPlans)
	c.days = installSeries(c.days, dayPlans)
	c.devDays = installSeries(c.devDays, devPlans)
	sitesPlan.install(&c.sites)
	devsPlan.install(&c.devs)
	c.total += sitesPlan.dTotal
	c.seq = seq
}

// Buckets returns, in ascending time order, the buckets covering [fromMS,
// toMS] for sel, and the version of the counts they come from (read under the
// same lock, so the caller knows exactly which events they include).
//
// With sel.Devices set the granularity is the day: whole days are exact
// buckets and a partial day at either edge is one non-exact bucket.
// Otherwise whole days inside the window are exact day buckets, and a
// partial day at an edge is split into exact whole hours plus a non-exact
// partial hour at the edge; a window inside a single hour is one non-exact
// bucket. Exact buckets with N == 0 are left out; non-exact ones are always
// returned, since only the caller can count them.
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

// Hours returns the exact hour buckets of [fromMS, toMS] for a selection
// without devices, like Buckets but never aggregated into days: a caller that
// found the offset it seeks inside a whole-day bucket narrows it to an hour
// with it. ok is false when the counts are no longer at version seq (an
// Apply came between), and the caller starts again.
func (c *Counts) Hours(sel Selection, fromMS, toMS, seq int64) (buckets []Bucket, ok bool) {
	f := newFilter(sel)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.seq != seq {
		return nil, false
	}
	if fromMS > toMS || f.byDevice {
		return nil, true
	}
	d0, d1 := floorDiv(fromMS, dayMS), floorDiv(toMS, dayMS)
	for d := d0; d <= d1; d++ {
		buckets = c.hourBuckets(buckets, &f, max(fromMS, bucketStart(d, dayMS)), min(toMS, bucketEnd(d, dayMS)))
	}
	return buckets, true
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
		return sumDevices(&c.devs, &f), c.seq
	}
	if f.anySite && f.anyKind {
		return c.total, c.seq
	}
	return sumSites(&c.sites, c.total, &f), c.seq
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
	scratch := int64(cap(c.hourOps)+cap(c.dayOps)+cap(c.siteAllOps)+cap(c.tmp32))*int64(unsafe.Sizeof(op[uint32]{})) +
		int64(cap(c.devOps)+cap(c.devAllOps)+cap(c.tmp64))*int64(unsafe.Sizeof(op[uint64]{}))
	return e1 + e2 + e3 + e4 + e5, b1 + b2 + b3 + b4 + b5 + scratch + int64(unsafe.Sizeof(*c))
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
	out = walk(out, c.days, first, last, dayMS, func(b *bucket[uint32]) int64 {
		return sumSites(&b.table, b.total, f)
	})
	if !wholeLast {
		out = c.hourBuckets(out, f, bucketStart(d1, dayMS), to)
	}
	return out
}

// hourBuckets appends the buckets of [from, to], which lie in one day:
// whole hours, and non-exact partial hours at the edges.
func (c *Counts) hourBuckets(out []Bucket, f *filter, from, to int64) []Bucket {
	h0, h1 := floorDiv(from, hourMS), floorDiv(to, hourMS)
	wholeFirst := from == bucketStart(h0, hourMS)
	wholeLast := to == bucketEnd(h1, hourMS)
	if h0 == h1 && !(wholeFirst && wholeLast) {
		return append(out, Bucket{FromMS: from, ToMS: to})
	}
	first, last := h0, h1
	if !wholeFirst {
		out = append(out, Bucket{FromMS: from, ToMS: bucketEnd(h0, hourMS)})
		first++
	}
	if !wholeLast {
		last--
	}
	out = walk(out, c.hours, first, last, hourMS, func(b *bucket[uint32]) int64 {
		return sumSites(&b.table, b.total, f)
	})
	if !wholeLast {
		out = append(out, Bucket{FromMS: bucketStart(h1, hourMS), ToMS: to})
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
		return sumDevices(&b.table, f)
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

// filter is a Selection prepared for summing: sorted sets and a kind bitmap.
type filter struct {
	byDevice         bool
	anySite, anyKind bool
	sites, devices   []uint32
	kinds            [(maxKind + 1) / 64]uint64
}

func newFilter(sel Selection) filter {
	f := filter{byDevice: sel.Devices != nil, anySite: sel.Sites == nil, anyKind: sel.Kinds == nil}
	if !f.anySite {
		f.sites = sortedSet(sel.Sites, maxSite)
	}
	if f.byDevice {
		f.devices = sortedSet(sel.Devices, math.MaxUint32)
	}
	for _, k := range sel.Kinds {
		if k <= maxKind {
			f.kinds[k/64] |= 1 << (k % 64)
		}
	}
	return f
}

// sortedSet returns the distinct values of s up to max, sorted, in a new
// slice (never nil), so that summing can walk keys in order.
func sortedSet(s []uint32, max uint32) []uint32 {
	out := make([]uint32, 0, len(s))
	for _, v := range s {
		if v <= max {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (f *filter) hasKind(k uint32) bool {
	return f.kinds[k/64]&(1<<(k%64)) != 0
}

// sumSites is the number of events of a site-level table that f selects;
// total is the sum of the whole table.
func sumSites[C count](t *table[uint32, C], total int64, f *filter) int64 {
	if f.anySite && f.anyKind {
		return total
	}
	var n int64
	if f.anySite {
		// The hot loop of a kind filter over many buckets: branch-free,
		// without bounds checks.
		counts := t.counts[:len(t.keys)]
		for i, k := range t.keys {
			k &= kindMask
			n += int64(counts[i]) & -int64(f.kinds[k/64]>>(k%64)&1)
		}
		return n
	}
	keys := t.keys
	i := 0
	for _, s := range f.sites {
		j, _ := slices.BinarySearch(keys[i:], s<<kindBits)
		i += j
		for ; i < len(keys) && keys[i]>>kindBits == s; i++ {
			if f.anyKind || f.hasKind(keys[i]&kindMask) {
				n += int64(t.counts[i])
			}
		}
	}
	return n
}

// sumDevices is the number of events of a device-level table that f
// selects: one binary search per selected device, then its few entries.
func sumDevices[C count](t *table[uint64, C], f *filter) int64 {
	var n int64
	keys := t.keys
	i := 0
	lastSite, lastOK := uint32(math.MaxUint32), false
	for _, d := range f.devices {
		j, _ := slices.BinarySearch(keys[i:], uint64(d)<<32)
		i += j
		for ; i < len(keys) && uint32(keys[i]>>32) == d; i++ {
			sk := uint32(keys[i])
			if !f.anyKind && !f.hasKind(sk&kindMask) {
				continue
			}
			if !f.anySite {
				if s := sk >> kindBits; s != lastSite {
					_, lastOK = slices.BinarySearch(f.sites, s)
					lastSite = s
				}
				if !lastOK {
					continue
				}
			}
			n += int64(t.counts[i])
		}
	}
	return n
}
