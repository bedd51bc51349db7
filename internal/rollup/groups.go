package rollup

import (
	"cmp"
	"math"
	"slices"
)

// Counts split by kind and by device, for charts: Buckets and Total answer
// one number per bucket, while an events-per-hour chart wants each hour by
// category (kinds, to the caller) and a denials chart wants a window by
// device. Both read the same tables, in one pass, under one read lock, so
// that what they answer is of one version, like Buckets.

// KindCount is a number of events of one kind.
type KindCount struct {
	Kind uint32
	N    int64
}

// KindBucket is a Bucket whose exact count is also split by kind.
type KindBucket struct {
	Bucket
	// Kinds splits N by kind, ascending by kind and without zeros, when
	// the bucket is exact; it is nil when it is not.
	Kinds []KindCount
}

// HoursByKind returns the hours of [fromMS, toMS] for sel, each split by
// kind, and the version of the counts they come from: an exact bucket for
// every whole hour of the window that holds selected events, and for a
// partial hour at either edge the exact finer buckets where the hour is
// dense (fine.go) and a non-exact bucket for what remains (always
// returned, for the caller to count), ascending; the finer buckets lie
// inside their hour. It is Hours for a chart of events per hour
// and category, where a whole hour costs the same however many events it
// holds.
//
// The hour table has no devices: with sel.Devices set, the whole window is
// one non-exact bucket. An open end (math.MinInt64, math.MaxInt64) is never
// a partial edge, and only hours holding events are visited. A window with
// fromMS > toMS is empty.
func (c *Counts) HoursByKind(sel Selection, fromMS, toMS int64) ([]KindBucket, int64) {
	f := newFilter(sel)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if fromMS > toMS {
		return nil, c.seq
	}
	if f.byDevice {
		return []KindBucket{{Bucket: Bucket{FromMS: fromMS, ToMS: toMS}}}, c.seq
	}
	h0, h1 := floorDiv(fromMS, hourMS), floorDiv(toMS, hourMS)
	wholeFirst := fromMS == bucketStart(h0, hourMS)
	wholeLast := toMS == bucketEnd(h1, hourMS)
	var out []KindBucket
	acc := newKindAcc(c.maxKind)
	whole := func(s []bucket[uint64], first, last, w int64) {
		i, _ := slices.BinarySearchFunc(s, first, func(b bucket[uint64], n int64) int { return cmp.Compare(b.num, n) })
		for ; i < len(s) && s[i].num <= last; i++ {
			b := &s[i]
			acc.addSites(&b.table, &f)
			if kinds, n := acc.take(); n != 0 {
				out = append(out, KindBucket{
					Bucket: Bucket{FromMS: bucketStart(b.num, w), ToMS: bucketEnd(b.num, w), N: n, Exact: true},
					Kinds:  kinds,
				})
			}
		}
	}
	rest := func(lo, hi int64) { out = append(out, KindBucket{Bucket: Bucket{FromMS: lo, ToMS: hi}}) }
	if h0 == h1 && !(wholeFirst && wholeLast) {
		c.partial(siteLadder, 0, h0, fromMS, toMS, whole, rest)
		return out, c.seq
	}
	first, last := h0, h1
	if !wholeFirst {
		c.partial(siteLadder, 0, h0, fromMS, bucketEnd(h0, hourMS), whole, rest)
		first++
	}
	if !wholeLast {
		last--
	}
	if first <= last {
		whole(c.hours, first, last, hourMS)
	}
	if !wholeLast {
		c.partial(siteLadder, 0, h1, bucketStart(h1, hourMS), toMS, whole, rest)
	}
	return out, c.seq
}

// DaysByDevice returns the number of events sel selects in the whole UTC
// days of [fromMS, toMS] by device (devices with none left out; device 0
// is the server's own events), the parts of the window it cannot split by
// device, and the version of the counts.
//
// The device table counts per day, and finer only where one of the newest
// days is dense (fine.go), so the rest of a partial day at an edge of the
// window is left to the caller: rest holds the ranges, ascending and
// disjoint, that the caller counts by device itself (from the events, at
// seq <= the version), always as non-exact buckets. Without sel.Devices,
// each partial day is narrowed with the hour table to the hours that may
// hold selected events (a partial hour at the window's edge, and whole
// hours that hold some), so that a sparse selection
// such as access denials costs the caller a few short scans rather than
// two days of events. An open end is never partial. A window with fromMS >
// toMS is empty.
func (c *Counts) DaysByDevice(sel Selection, fromMS, toMS int64) (sums map[uint32]int64, rest []Bucket, seq int64) {
	f := newFilter(sel)
	c.mu.RLock()
	defer c.mu.RUnlock()
	sums = map[uint32]int64{}
	if fromMS > toMS {
		return sums, nil, c.seq
	}
	if fromMS == math.MinInt64 && toMS == math.MaxInt64 {
		addDevices(c, sums, &c.devs, &f)
		return sums, nil, c.seq
	}
	// add appends a range to rest, merged with the one before when they
	// touch, so that the caller makes as few scans as it can.
	add := func(lo, hi int64) {
		if n := len(rest); n > 0 && rest[n-1].ToMS != math.MaxInt64 && rest[n-1].ToMS+1 == lo {
			rest[n-1].ToMS = hi
			return
		}
		rest = append(rest, Bucket{FromMS: lo, ToMS: hi})
	}
	rest1 := func(lo, hi int64) {
		if f.byDevice {
			add(lo, hi)
			return
		}
		for _, b := range c.hourBuckets(nil, &f, lo, hi) {
			add(b.FromMS, b.ToMS)
		}
	}
	edge := func(lo, hi int64) {
		// A recent day may have finer device counts (fine.go): whole
		// finer buckets are summed, the rest left to the caller.
		c.partial(deviceLadder, 0, floorDiv(lo, dayMS), lo, hi, func(s []bucket[uint64], first, last, w int64) {
			i, _ := slices.BinarySearchFunc(s, first, func(b bucket[uint64], n int64) int { return cmp.Compare(b.num, n) })
			for ; i < len(s) && s[i].num <= last; i++ {
				addDevices(c, sums, &s[i].table, &f)
			}
		}, rest1)
	}
	d0, d1 := floorDiv(fromMS, dayMS), floorDiv(toMS, dayMS)
	wholeFirst := fromMS == bucketStart(d0, dayMS)
	wholeLast := toMS == bucketEnd(d1, dayMS)
	if d0 == d1 && !(wholeFirst && wholeLast) {
		edge(fromMS, toMS)
		return sums, rest, c.seq
	}
	first, last := d0, d1
	if !wholeFirst {
		edge(fromMS, bucketEnd(d0, dayMS))
		first++
	}
	if !wholeLast {
		last--
	}
	if first <= last {
		i, _ := slices.BinarySearchFunc(c.devDays, first, func(b bucket[uint64], n int64) int { return cmp.Compare(b.num, n) })
		for ; i < len(c.devDays) && c.devDays[i].num <= last; i++ {
			addDevices(c, sums, &c.devDays[i].table, &f)
		}
	}
	if !wholeLast {
		edge(bucketStart(d1, dayMS), toMS)
	}
	return sums, rest, c.seq
}

// addDevices adds the counts of a device-level table of c that f selects
// to sums, by device. Entries are sorted by device, so each device's run of
// entries is summed first and costs one map update.
func addDevices[C count](c *Counts, sums map[uint32]int64, t *table[uint64, C], f *filter) {
	keys, counts := t.keys, t.counts[:len(t.keys)]
	// sumRun sums the selected entries of device d from i on and returns
	// where its run ends.
	sumRun := func(i int, d uint32) int {
		if !c.siteSelected(f, d) {
			for i < len(keys) && uint32(keys[i]>>32) == d {
				i++
			}
			return i
		}
		var n int64
		for ; i < len(keys) && uint32(keys[i]>>32) == d; i++ {
			if k := uint32(keys[i]); kindBit(f.kindBits, k) != 0 || f.slow && f.inKindSet(k) {
				n += int64(counts[i])
			}
		}
		if n != 0 {
			sums[d] += n
		}
		return i
	}
	if f.byDevice {
		i := 0
		for _, d := range f.devices {
			j, _ := slices.BinarySearch(keys[i:], pack(d, 0))
			i = sumRun(i+j, d)
		}
		return
	}
	for i := 0; i < len(keys); {
		i = sumRun(i, uint32(keys[i]>>32))
	}
}

// kindAcc sums counts by kind over a table, for HoursByKind: a slice
// indexed by kind up to the largest kind counted (kind codes are the
// store's rowids, dense from 1) or maxDenseKind, with a map for kinds
// beyond, and the kinds touched, so that taking the sums costs what the
// table holds, not the largest kind.
type kindAcc struct {
	n       []int64
	far     map[uint32]int64
	touched []uint32
}

// maxDenseKind bounds kindAcc's slice to 512 KiB.
const maxDenseKind = 1 << 16

func newKindAcc(maxKind uint32) kindAcc {
	return kindAcc{n: make([]int64, min(int(maxKind)+1, maxDenseKind))}
}

// add adds n events of kind k.
func (a *kindAcc) add(k uint32, n int64) {
	if int(k) < len(a.n) {
		if a.n[k] == 0 {
			a.touched = append(a.touched, k)
		}
		a.n[k] += n
		return
	}
	a.addFar(k, n)
}

func (a *kindAcc) addFar(k uint32, n int64) {
	if a.far == nil {
		a.far = map[uint32]int64{}
	}
	if a.far[k] == 0 {
		a.touched = append(a.touched, k)
	}
	a.far[k] += n
}

// addSites adds the entries of a site-level table that f selects.
func (a *kindAcc) addSites(t *table[uint64, uint32], f *filter) {
	keys, counts := t.keys, t.counts[:len(t.keys)]
	add := func(i int) {
		k := uint32(keys[i])
		if !f.anyKind && kindBit(f.kindBits, k) == 0 && !(f.slow && f.inKindSet(k)) {
			return
		}
		a.add(k, int64(counts[i]))
	}
	if f.anySite {
		for i := range keys {
			add(i)
		}
		return
	}
	i := 0
	for _, s := range f.sites {
		j, _ := slices.BinarySearch(keys[i:], pack(s, 0))
		for i += j; i < len(keys) && uint32(keys[i]>>32) == s; i++ {
			add(i)
		}
	}
}

// take returns the sums by kind, ascending, and their total, and empties
// the accumulator.
func (a *kindAcc) take() ([]KindCount, int64) {
	if len(a.touched) == 0 {
		return nil, 0
	}
	slices.Sort(a.touched)
	out := make([]KindCount, len(a.touched))
	var total int64
	for i, k := range a.touched {
		var n int64
		if int(k) < len(a.n) {
			n = a.n[k]
			a.n[k] = 0
		} else {
			n = a.far[k]
			delete(a.far, k)
		}
		out[i] = KindCount{Kind: k, N: n}
		total += n
	}
	a.touched = a.touched[:0]
	return out, total
}
