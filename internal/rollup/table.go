package rollup

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

// key is a packed entry key: site<<32 | kind, or device<<32 | kind (and, in
// version 1 snapshots only, a uint32 site<<12 | kind).
type key interface{ ~uint32 | ~uint64 }

// count is an entry count: uint32 in buckets, where it keeps an entry at 8 or
// 12 bytes, uint64 in the whole-axis totals, which have few entries and may
// grow past 2^32.
type count interface{ ~uint32 | ~uint64 }

// table is a sparse count table: keys ascending, no zero counts.
type table[K key, C count] struct {
	keys   []K
	counts []C
}

func (t *table[K, C]) size() (entries int, bytes int64) {
	return len(t.keys), int64(cap(t.keys))*int64(unsafe.Sizeof(K(0))) + int64(cap(t.counts))*int64(unsafe.Sizeof(C(0)))
}

// bucket is the table of one hour or day, numbered from the epoch, with the
// sum of its counts so that a query without a filter does not walk it.
type bucket[K key] struct {
	num   int64
	total int64
	table[K, uint32]
}

func seriesSize[K key](s []bucket[K]) (entries int, bytes int64) {
	bytes = int64(cap(s)) * int64(unsafe.Sizeof(bucket[K]{}))
	for i := range s {
		e, b := s[i].size()
		entries += e
		bytes += b
	}
	return entries, bytes
}

// op is a change of count n to entry k of bucket b.
type op[K key] struct {
	b int64
	k K
	n int64
}

// sumOps sorts ops by (bucket, key) and sums the ops of each entry, dropping
// those that sum to zero, in place; tmp is scratch space, returned grown.
func sumOps[K key](ops, tmp []op[K]) ([]op[K], []op[K]) {
	tmp = sortOps(ops, tmp)
	out := ops[:0]
	for i := 0; i < len(ops); {
		o := ops[i]
		for i++; i < len(ops) && ops[i].b == o.b && ops[i].k == o.k; i++ {
			o.n += ops[i].n
		}
		if o.n != 0 {
			out = append(out, o)
		}
	}
	return out, tmp
}

// sortOps sorts ops by (bucket, key) with a least-significant-digit radix
// sort, a byte at a time, skipping the bytes that are the same in every op:
// a batch of events spans an hour or two of a few hundred devices, so a
// handful of linear passes replaces the comparison sort that dominated
// Apply. tmp is scratch space, returned grown.
func sortOps[K key](ops, tmp []op[K]) []op[K] {
	if len(ops) < 64 {
		slices.SortFunc(ops, func(x, y op[K]) int {
			if c := cmp.Compare(x.b, y.b); c != 0 {
				return c
			}
			return cmp.Compare(x.k, y.k)
		})
		return tmp
	}
	bmin := ops[0].b
	for _, o := range ops {
		bmin = min(bmin, o.b)
	}
	// Bucket numbers are within ±2^52, so b-bmin does not overflow.
	andK, orK, andB, orB := ^uint64(0), uint64(0), ^uint64(0), uint64(0)
	for _, o := range ops {
		andK &= uint64(o.k)
		orK |= uint64(o.k)
		andB &= uint64(o.b - bmin)
		orB |= uint64(o.b - bmin)
	}
	if cap(tmp) < len(ops) {
		tmp = make([]op[K], len(ops))
	}
	src, dst := ops, tmp[:len(ops)]
	for shift := uint(0); shift < 64; shift += 8 {
		if (andK^orK)>>shift&0xff != 0 {
			radixPass(src, dst, shift, false, 0)
			src, dst = dst, src
		}
	}
	for shift := uint(0); shift < 64; shift += 8 {
		if (andB^orB)>>shift&0xff != 0 {
			radixPass(src, dst, shift, true, bmin)
			src, dst = dst, src
		}
	}
	if &src[0] != &ops[0] {
		copy(ops, src)
	}
	return tmp
}

// radixPass stably sorts src into dst by one byte: of the key, or of the
// bucket number less bmin.
func radixPass[K key](src, dst []op[K], shift uint, byBucket bool, bmin int64) {
	digit := func(o *op[K]) uint8 {
		if byBucket {
			return uint8(uint64(o.b-bmin) >> shift)
		}
		return uint8(uint64(o.k) >> shift)
	}
	var count [256]int
	for i := range src {
		count[digit(&src[i])]++
	}
	pos := 0
	for i, c := range count {
		count[i] = pos
		pos += c
	}
	dst = dst[:len(src)]
	for i := range src {
		d := digit(&src[i])
		dst[count[d]] = src[i]
		count[d]++
	}
}

// search returns the position of k in keys[from:] (or where it would be),
// plus from, and whether it is there. It gallops from from, because the
// ops of a batch are sorted and close together, so most searches end within
// a few entries.
func search[K key](keys []K, from int, k K) (int, bool) {
	step := 1
	lo := from
	for lo+step < len(keys) && keys[lo+step] < k {
		lo += step
		step *= 2
	}
	hi := min(lo+step+1, len(keys))
	j, found := slices.BinarySearch(keys[lo:hi], k)
	return lo + j, found
}

// update sets the count at pos of a table.
type update[C count] struct {
	pos int
	val C
}

// tablePlan is a change of a table prepared without changing it: either
// counts to set in place (the common case: every entry exists already) or a
// whole new table (entries are added or removed). It is installed under the
// write lock, which then takes only a few stores or slice swaps.
type tablePlan[K key, C count] struct {
	upd     []update[C]
	rebuilt bool
	t       table[K, C]
	dTotal  int64
}

var (
	errUnderflow = errors.New("count below zero")
	errOverflow  = errors.New("count overflow")
)

// addCount returns c + n, or an error if that is below zero or does not fit
// C.
func addCount[C count](c C, n int64) (C, error) {
	if n >= 0 {
		if uint64(n) > uint64(^C(0)-c) {
			return 0, errOverflow
		}
		return c + C(n), nil
	}
	if uint64(-n) > uint64(c) {
		return 0, errUnderflow
	}
	return c - C(-n), nil
}

// planTable plans ops (sorted by key, distinct, non-zero) on t.
func planTable[K key, C count](t *table[K, C], ops []op[K]) (tablePlan[K, C], error) {
	p := tablePlan[K, C]{upd: make([]update[C], 0, len(ops))}
	var ins []op[K]
	removals := 0
	pos := 0
	for _, o := range ops {
		p.dTotal += o.n
		var found bool
		pos, found = search(t.keys, pos, o.k)
		if !found {
			v, err := addCount(C(0), o.n)
			if err != nil {
				return p, fmt.Errorf("entry %#x: %w", o.k, err)
			}
			ins = append(ins, op[K]{k: o.k, n: int64(v)})
			continue
		}
		v, err := addCount(t.counts[pos], o.n)
		if err != nil {
			return p, fmt.Errorf("entry %#x: %w", o.k, err)
		}
		if v == 0 {
			removals++
		}
		p.upd = append(p.upd, update[C]{pos, v})
	}
	if len(ins) == 0 && removals == 0 {
		return p, nil
	}

	// Merge the old entries, updated, with the new ones into a table of
	// exactly the needed size: buckets are long-lived, so slack capacity
	// would be memory lost for good.
	n := len(t.keys) + len(ins) - removals
	p.rebuilt = true
	if n == 0 {
		p.upd = nil
		return p, nil
	}
	keys, counts := make([]K, 0, n), make([]C, 0, n)
	u, v := 0, 0
	for i := 0; i < len(t.keys) || v < len(ins); {
		if v < len(ins) && (i == len(t.keys) || ins[v].k < t.keys[i]) {
			keys = append(keys, ins[v].k)
			counts = append(counts, C(ins[v].n))
			v++
			continue
		}
		// Copy the run of old entries up to the next update in one go.
		next := len(t.keys)
		if u < len(p.upd) {
			next = p.upd[u].pos
		}
		if v < len(ins) {
			j, _ := slices.BinarySearch(t.keys[i:next], ins[v].k)
			next = i + j
		}
		if i < next {
			keys = append(keys, t.keys[i:next]...)
			counts = append(counts, t.counts[i:next]...)
			i = next
			continue
		}
		if c := p.upd[u].val; c != 0 {
			keys = append(keys, t.keys[i])
			counts = append(counts, c)
		}
		u++
		i++
	}
	p.upd = nil
	p.t = table[K, C]{keys, counts}
	return p, nil
}

// install makes the planned change to t, which must be the table it was
// planned on.
func (p *tablePlan[K, C]) install(t *table[K, C]) {
	if p.rebuilt {
		*t = p.t
		return
	}
	for _, u := range p.upd {
		t.counts[u.pos] = u.val
	}
}

// bucketPlan is the plan of one bucket of a series; exists says whether the
// bucket is stored already.
type bucketPlan[K key] struct {
	num    int64
	exists bool
	p      tablePlan[K, uint32]
}

// planSeries plans ops (sorted by bucket and key, distinct, non-zero) on the
// buckets s.
func planSeries[K key](s []bucket[K], ops []op[K]) ([]bucketPlan[K], error) {
	var plans []bucketPlan[K]
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].b == ops[i].b {
			j++
		}
		num := ops[i].b
		idx, found := slices.BinarySearchFunc(s, num, func(b bucket[K], n int64) int { return cmp.Compare(b.num, n) })
		t := &table[K, uint32]{}
		if found {
			t = &s[idx].table
		}
		p, err := planTable(t, ops[i:j])
		if err != nil {
			return nil, fmt.Errorf("bucket %d: %w", num, err)
		}
		plans = append(plans, bucketPlan[K]{num: num, exists: found, p: p})
		i = j
	}
	return plans, nil
}

// installSeries makes the planned changes to s, which must be the series they
// were planned on, and returns the series. Changes to buckets that exist and
// stay are made in place, and new buckets after the others (a new hour or
// day, the common case) are appended; only a bucket added before others or
// emptied makes a new slice.
func installSeries[K key](s []bucket[K], plans []bucketPlan[K]) []bucket[K] {
	tail := len(plans)
	for i := range plans {
		p := &plans[i]
		if !p.exists && (len(s) == 0 || p.num > s[len(s)-1].num) {
			tail = i
			break
		}
		if !p.exists || (p.p.rebuilt && len(p.p.t.keys) == 0) {
			return rebuildSeries(s, plans)
		}
	}
	inPlace(s, plans[:tail])
	for _, p := range plans[tail:] {
		s = append(s, bucket[K]{num: p.num, total: p.p.dTotal, table: p.p.t})
	}
	return s
}

// rebuildSeries is installSeries making a new slice.
func rebuildSeries[K key](s []bucket[K], plans []bucketPlan[K]) []bucket[K] {
	out := make([]bucket[K], 0, len(s)+len(plans))
	i := 0
	for k := range plans {
		p := &plans[k]
		for i < len(s) && s[i].num < p.num {
			out = append(out, s[i])
			i++
		}
		b := bucket[K]{num: p.num}
		if p.exists {
			b = s[i]
			i++
		}
		p.p.install(&b.table)
		b.total += p.p.dTotal
		if len(b.keys) > 0 {
			out = append(out, b)
		}
	}
	return append(out, s[i:]...)
}

// inPlace installs plans of buckets that exist and stay.
func inPlace[K key](s []bucket[K], plans []bucketPlan[K]) {
	i := 0
	for k := range plans {
		p := &plans[k]
		for s[i].num < p.num {
			i++
		}
		p.p.install(&s[i].table)
		s[i].total += p.p.dTotal
	}
}
