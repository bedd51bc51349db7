// Package dedup keeps the set of stored (device, source id) pairs whose
// source ids are in counter form, so that ingest can report a resent event as
// a duplicate without a unique index on events: such an index costs two
// thirds of SQLite's insert throughput.
//
// Real senders number their events ("gate-7-1234"), so the ids of one device
// and prefix are kept as sorted, merged intervals of counters, typically one
// per device. The intervals are persisted as rows (Device, Prefix, Lo, Hi) of
// a small table keyed by (Device, Prefix, Lo), written in the same SQL
// transaction as the events. This package does no SQL: a Txn computes which
// rows to delete and which to upsert, and the caller writes them.
//
// The single writer owns the Set. A transaction goes:
//
//	t := set.Begin()
//	for each event with prefix, n, ok := Split(id); ok {
//		if t.Has(dev, prefix, n) { duplicate; continue }
//		insert the event; t.Add(dev, prefix, n)
//	}
//	deleted, upserted := t.Changes()
//	write them, then commit the SQL transaction
//	t.Commit() // only if the SQL commit succeeded
//
// Ids not in counter form are the caller's business (an ordinary unique
// table).
package dedup

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Range is one persisted interval, the unit both Load reads and Changes
// writes, so that the table and the Set describe the same thing: counters Lo
// through Hi (inclusive) of (Device, Prefix) are all stored.
type Range struct {
	Device int64
	Prefix string
	Lo, Hi int64
}

// iv is an interval of counters, lo <= hi.
type iv struct{ lo, hi int64 }

// key names one counter sequence.
type key struct {
	device int64
	prefix string
}

// ivals holds the committed intervals of one key. A key with a single
// interval, the usual case, keeps it inline in lo and hi, so that it costs
// one 24-byte object; a key with more keeps them all, sorted, in all.
type ivals struct {
	lo, hi int64
	all    *[]iv // nil if the key has one interval
}

// count returns the number of intervals; a nil *ivals has none.
func (v *ivals) count() int {
	switch {
	case v == nil:
		return 0
	case v.all == nil:
		return 1
	}
	return len(*v.all)
}

// view returns the intervals as a slice, using one to hold a single
// interval, so that the Txn can search and merge them like any other.
func (v *ivals) view(one *[1]iv) []iv {
	switch {
	case v == nil:
		return nil
	case v.all == nil:
		one[0] = iv{v.lo, v.hi}
		return one[:]
	}
	return *v.all
}

// appendTo appends the intervals to dst in order.
func (v *ivals) appendTo(dst []iv) []iv {
	var one [1]iv
	return append(dst, v.view(&one)...)
}

// set replaces the intervals with ivs (sorted, merged, not empty), reusing
// the storage of all when it fits so that a commit allocates nothing unless
// the key gains intervals.
func (v *ivals) set(ivs []iv) {
	v.lo, v.hi = ivs[0].lo, ivs[0].hi
	switch {
	case len(ivs) == 1:
		v.all = nil
	case v.all != nil && cap(*v.all) >= len(ivs) && cap(*v.all) <= 2*len(ivs)+4:
		*v.all = append((*v.all)[:0], ivs...)
	default:
		r := make([]iv, len(ivs), len(ivs)+len(ivs)/4)
		copy(r, ivs)
		v.all = &r
	}
}

// search reports whether n is in one of the sorted, disjoint intervals ivs.
// It tries the last interval first because counters mostly increase.
func search(ivs []iv, n int64) bool {
	if len(ivs) == 0 {
		return false
	}
	last := ivs[len(ivs)-1]
	if n > last.hi {
		return false
	}
	if n >= last.lo {
		return true
	}
	i := upper(ivs[:len(ivs)-1], n)
	return i > 0 && ivs[i-1].hi >= n
}

// upper returns the index of the first interval of ivs with lo > n, or
// len(ivs).
func upper(ivs []iv, n int64) int {
	lo, hi := 0, len(ivs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ivs[m].lo > n {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// insert adds n to the sorted, merged intervals ivs and returns them, still
// sorted and merged. The common case, n one past the last interval, only
// moves a bound.
func insert(ivs []iv, n int64) []iv {
	if len(ivs) == 0 {
		return append(ivs, iv{n, n})
	}
	last := &ivs[len(ivs)-1]
	if n > last.hi {
		if n == last.hi+1 {
			last.hi = n
			return ivs
		}
		return append(ivs, iv{n, n})
	}
	if n >= last.lo {
		return ivs
	}
	// n < last.lo, so i < len(ivs) and n+1 cannot overflow.
	i := upper(ivs[:len(ivs)-1], n)
	if i > 0 && ivs[i-1].hi >= n {
		return ivs
	}
	joinPrev := i > 0 && ivs[i-1].hi+1 == n
	joinNext := ivs[i].lo == n+1
	switch {
	case joinPrev && joinNext:
		ivs[i-1].hi = ivs[i].hi
		return slices.Delete(ivs, i, i+1)
	case joinPrev:
		ivs[i-1].hi = n
		return ivs
	case joinNext:
		ivs[i].lo = n
		return ivs
	}
	return slices.Insert(ivs, i, iv{n, n})
}

// Set is the committed state: what the persisted table holds. It keeps
// intervals only, so that millions of devices fit: a key with one interval
// and a short prefix costs 85 to 115 bytes, most of it the Go map's slot,
// depending on how full the map happens to be.
//
// A Set is not safe for concurrent use: the single writer owns it, and at
// most one Txn is open at a time. Begin and Load end the Txn opened before
// them, and using an ended Txn panics rather than corrupt the Set.
type Set struct {
	m  map[key]*ivals
	n  int // number of intervals
	sc scratch
}

// New returns an empty Set, ready for Load and Begin.
func New() *Set {
	return &Set{m: make(map[key]*ivals)}
}

// Len returns the number of committed intervals, which is the number of rows
// the persisted table should hold. If Len after loading a table into an empty
// Set is less than the number of rows loaded, the table held overlapping or
// adjacent rows, and the caller should rewrite it from Ranges, because
// Changes assumes the table matches the Set.
func (s *Set) Len() int { return s.n }

// Load adds persisted ranges, at startup, so that the Set starts where the
// table is. Ranges may come in any order; ranges of one key that overlap or
// touch each other or the committed ranges are merged. It panics on a range
// with Lo > Hi, which the table can only hold if it is corrupt. Load ends any
// open Txn.
func (s *Set) Load(rs []Range) {
	s.sc.end()
	byKey := make(map[key][]iv)
	for _, r := range rs {
		if r.Lo > r.Hi {
			panic(fmt.Sprintf("dedup: Load: range %d %q %d..%d has Lo > Hi", r.Device, r.Prefix, r.Lo, r.Hi))
		}
		k := key{r.Device, r.Prefix}
		ivs, ok := byKey[k]
		if !ok {
			ivs = s.m[k].appendTo(nil)
		}
		byKey[k] = append(ivs, iv{r.Lo, r.Hi})
	}
	for k, ivs := range byKey {
		slices.SortFunc(ivs, func(a, b iv) int { return cmp.Compare(a.lo, b.lo) })
		out := ivs[:1]
		for _, x := range ivs[1:] {
			last := &out[len(out)-1]
			// x.lo >= last.lo; last.hi+1 only runs when last.hi < x.lo, so it
			// cannot overflow.
			if x.lo <= last.hi || x.lo == last.hi+1 {
				last.hi = max(last.hi, x.hi)
				continue
			}
			out = append(out, x)
		}
		v := s.m[k]
		s.n += len(out) - v.count()
		if v == nil {
			v = new(ivals)
			s.m[key{k.device, strings.Clone(k.prefix)}] = v
		}
		v.set(out)
	}
}

// Ranges returns all committed ranges sorted by Device, Prefix and Lo, for
// tests and for rewriting the table from scratch.
func (s *Set) Ranges() []Range {
	out := make([]Range, 0, s.n)
	var buf []iv
	for k, v := range s.m {
		buf = v.appendTo(buf[:0])
		for _, x := range buf {
			out = append(out, Range{k.device, k.prefix, x.lo, x.hi})
		}
	}
	slices.SortFunc(out, func(a, b Range) int {
		if c := cmp.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		if c := strings.Compare(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return cmp.Compare(a.Lo, b.Lo)
	})
	return out
}

// Begin opens a transaction on the Set and ends the one opened before, if
// any. It copies nothing: the Txn overlays only the keys it touches, and its
// structures are reused from one Txn to the next, so that a steady stream of
// batches allocates almost nothing.
func (s *Set) Begin() *Txn {
	t := &Txn{s: s}
	s.sc.reset(t)
	return t
}

// Txn is one transaction's view of the Set: the committed state plus its own
// adds, so that duplicates within one batch are caught too. Nothing reaches
// the Set until Commit; a Txn that is not committed, because its SQL
// transaction failed, is simply dropped.
type Txn struct {
	s *Set
}

// entry is a Txn's overlay of one key. It keeps the Txn's own counters
// apart from the committed ones, so that touching a key with many intervals
// costs the Txn only a binary search, never a copy.
type entry struct {
	key  key    // the prefix is a private copy if the key is new to the Set
	base *ivals // the committed intervals, nil if none
	bs   []iv   // base as a slice, for searching and merging
	one  [1]iv  // storage of bs for a base with one interval
	// add holds the counters added by this Txn as sorted intervals, merged
	// with each other but not with base: no counter is in both, but an
	// interval of add may touch one of base.
	add []iv
}

// Chunk sizes of the scratch arenas, and the number of keys beyond which a
// Txn's structures are not kept for the next one, so that one huge
// transaction does not pin memory for good.
const (
	entryChunk = 256
	ivChunk    = 1024
	addCap     = 4 // room for a key's adds before they move to the heap
	maxKeep    = 8192
)

// scratch is the storage of the open Txn, kept by the Set and reused by each
// Begin so that Txn structures are allocated per run, not per transaction.
type scratch struct {
	owner *Txn // the open Txn, nil if none
	m     map[key]*entry
	dirty []*entry // entries with adds, in the order of their first add
	buf   []iv     // Commit's merge buffer

	ents  [][]entry // entry arena: chunks, used up to ents[ei][:eoff]
	ei    int
	eoff  int
	ivs   []iv // current interval arena chunk, used up to ivoff
	ivoff int

	// last is the entry of the most recent Has or Add, so that the usual
	// Has followed by Add of the same key looks it up once.
	last       *entry
	lastDevice int64
	lastPrefix string
}

// reset prepares the scratch for the new Txn t.
func (sc *scratch) reset(t *Txn) {
	sc.owner = t
	sc.last, sc.lastPrefix = nil, ""
	sc.dirty = sc.dirty[:0]
	sc.ivoff = 0
	used := sc.ei*entryChunk + sc.eoff
	if used > maxKeep || sc.m == nil {
		sc.m = make(map[key]*entry)
		sc.ents, sc.dirty, sc.ivs, sc.buf = nil, nil, nil, nil
	} else {
		clear(sc.m)
		for i := 0; i < sc.ei; i++ {
			clear(sc.ents[i])
		}
		if sc.ei < len(sc.ents) {
			clear(sc.ents[sc.ei][:sc.eoff])
		}
	}
	sc.ei, sc.eoff = 0, 0
}

// end closes the open Txn, if any, so that using it afterwards panics.
func (sc *scratch) end() {
	sc.owner = nil
}

// newEntry returns a zero entry from the arena.
func (sc *scratch) newEntry() *entry {
	if sc.eoff == entryChunk {
		sc.ei++
		sc.eoff = 0
	}
	if sc.ei == len(sc.ents) {
		sc.ents = append(sc.ents, make([]entry, entryChunk))
	}
	e := &sc.ents[sc.ei][sc.eoff]
	sc.eoff++
	return e
}

// alloc returns an empty interval slice with room for addCap intervals from
// the arena. Appending beyond that moves the slice to the heap, as usual.
func (sc *scratch) alloc() []iv {
	if sc.ivoff+addCap > len(sc.ivs) {
		sc.ivs = make([]iv, ivChunk)
		sc.ivoff = 0
	}
	s := sc.ivs[sc.ivoff : sc.ivoff : sc.ivoff+addCap]
	sc.ivoff += addCap
	return s
}

// check panics if t has ended, because its view of the Set may be stale.
func (t *Txn) check() *scratch {
	sc := &t.s.sc
	if sc.owner != t {
		panic("dedup: use of a Txn after Commit, or after a later Begin or Load")
	}
	return sc
}

// entry returns the overlay entry of (device, prefix), creating it on first
// use.
func (t *Txn) entry(device int64, prefix string) *entry {
	sc := t.check()
	if e := sc.last; e != nil && sc.lastDevice == device && sc.lastPrefix == prefix {
		return e
	}
	k := key{device, prefix}
	e := sc.m[k]
	if e == nil {
		e = sc.newEntry()
		e.key = k
		e.base = t.s.m[k]
		e.bs = e.base.view(&e.one)
		sc.m[k] = e
	}
	sc.last, sc.lastDevice, sc.lastPrefix = e, device, prefix
	return e
}

// Has reports whether counter n of (device, prefix) is stored, either
// committed or added by this Txn, so that the caller can drop the event as a
// duplicate.
func (t *Txn) Has(device int64, prefix string, n int64) bool {
	e := t.entry(device, prefix)
	return search(e.bs, n) || search(e.add, n)
}

// Add records counter n of (device, prefix) as stored by this Txn, so that
// Changes writes it and later events with the same id are duplicates. Adding
// a counter already present does nothing. The prefix need not outlive the
// call: the Set keeps its own copy of new prefixes.
func (t *Txn) Add(device int64, prefix string, n int64) {
	e := t.entry(device, prefix)
	if search(e.bs, n) {
		return
	}
	if e.add == nil {
		sc := &t.s.sc
		e.add = sc.alloc()
		if e.base == nil {
			e.key.prefix = strings.Clone(prefix)
		}
		sc.dirty = append(sc.dirty, e)
	}
	e.add = insert(e.add, n)
}

// group is one interval of the state after a Txn that differs from the
// committed state: lo..hi merges base[i:j] (possibly none) with one or more
// intervals of add.
type group struct {
	lo, hi int64
	i, j   int
}

// grouper walks the groups of an entry in order. It costs a binary search
// per interval of add, not a pass over base, so that a key with many
// committed intervals is cheap to change.
type grouper struct {
	base, add []iv
	p, j      int // next interval of add; first of base with lo > add[p-1].lo
}

// next returns the next group, or false when there are no more.
func (g *grouper) next() (group, bool) {
	if g.p == len(g.add) {
		return group{}, false
	}
	a := g.add[g.p]
	g.p++
	j := g.j + upper(g.base[g.j:], a.lo)
	gr := group{lo: a.lo, hi: a.hi, i: j}
	if j > 0 && g.base[j-1].hi+1 == a.lo {
		gr.i = j - 1
		gr.lo = g.base[j-1].lo
	}
	// Intervals of base never touch each other, nor do those of add, so the
	// group grows by alternating between them. Each neighbour starts above
	// gr.hi, so gr.hi+1 cannot overflow.
	for {
		if j < len(g.base) && g.base[j].lo == gr.hi+1 {
			gr.hi = g.base[j].hi
			j++
		} else if g.p < len(g.add) && g.add[g.p].lo == gr.hi+1 {
			gr.hi = g.add[g.p].hi
			g.p++
		} else {
			break
		}
	}
	gr.j, g.j = j, j
	return gr, true
}

// Changes tells what to write so that the persisted rows equal the state
// after this Txn: rows to delete, by their key (Device, Prefix, Lo) as
// persisted before, and rows to insert or replace, keyed by (Device, Prefix,
// Lo). No key is in both lists, so they may be applied in either order.
//
// The lists are minimal for a table keyed by Lo: a row is written only if
// it is new or its Hi changed, and deleted only if its Lo is gone. Extending
// an interval upward is one upsert; filling the gap between two intervals is
// one upsert and one delete; extending one downward is one upsert and one
// delete, because its key moves. Keys come in the order this Txn first
// changed them, each key's rows by Lo. Call Changes after the last Add.
func (t *Txn) Changes() (deleted []Range, upserted []Range) {
	sc := t.check()
	upserted = make([]Range, 0, len(sc.dirty))
	for _, e := range sc.dirty {
		dev, prefix := e.key.device, e.key.prefix
		g := grouper{base: e.bs, add: e.add}
		for gr, ok := g.next(); ok; gr, ok = g.next() {
			upserted = append(upserted, Range{dev, prefix, gr.lo, gr.hi})
			gone := e.bs[gr.i:gr.j]
			if len(gone) > 0 && gone[0].lo == gr.lo {
				gone = gone[1:] // the group keeps this row's key
			}
			for _, b := range gone {
				deleted = append(deleted, Range{dev, prefix, b.lo, b.hi})
			}
		}
	}
	return deleted, upserted
}

// Commit applies the Txn to the Set. Call it only after the SQL transaction
// that wrote Changes committed, so that the Set never claims what the table
// lacks. The Txn ends: using it afterwards panics.
func (t *Txn) Commit() {
	sc := t.check()
	s := t.s
	for _, e := range sc.dirty {
		out := sc.buf[:0]
		prev := 0
		g := grouper{base: e.bs, add: e.add}
		for gr, ok := g.next(); ok; gr, ok = g.next() {
			out = append(out, e.bs[prev:gr.i]...)
			out = append(out, iv{gr.lo, gr.hi})
			prev = gr.j
		}
		out = append(out, e.bs[prev:]...)
		sc.buf = out

		v := e.base
		s.n += len(out) - v.count()
		if v == nil {
			v = new(ivals)
			s.m[e.key] = v
		}
		v.set(out)
	}
	if cap(sc.buf) > ivChunk {
		sc.buf = nil // do not keep a huge key's buffer
	}
	sc.end()
}
