package dedup

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"unsafe"
)

// rowKey is the primary key of the simulated persisted table.
type rowKey struct {
	device int64
	prefix string
	lo     int64
}

// table simulates the persisted table: (Device, Prefix, Lo) -> Hi.
type table map[rowKey]int64

// apply replays Changes onto the table the way the caller's SQL would,
// failing if a deleted row is not there as persisted or a key is both
// deleted and upserted.
func (tb table) apply(t testing.TB, deleted, upserted []Range) {
	t.Helper()
	up := make(map[rowKey]bool, len(upserted))
	for _, r := range upserted {
		k := rowKey{r.Device, r.Prefix, r.Lo}
		if up[k] {
			t.Fatalf("upserted %+v twice", r)
		}
		up[k] = true
	}
	for _, r := range deleted {
		k := rowKey{r.Device, r.Prefix, r.Lo}
		hi, ok := tb[k]
		if !ok || hi != r.Hi {
			t.Fatalf("deleted %+v: got row present %v with Hi %d, want present with Hi %d", r, ok, hi, r.Hi)
		}
		if up[k] {
			t.Fatalf("row %+v is both deleted and upserted", r)
		}
		delete(tb, k)
	}
	for _, r := range upserted {
		tb[rowKey{r.Device, r.Prefix, r.Lo}] = r.Hi
	}
}

// ranges returns the table's rows sorted like Set.Ranges.
func (tb table) ranges() []Range {
	out := make([]Range, 0, len(tb))
	for k, hi := range tb {
		out = append(out, Range{k.device, k.prefix, k.lo, hi})
	}
	sortRanges(out)
	return out
}

func tableOf(rs []Range) table {
	tb := make(table, len(rs))
	for _, r := range rs {
		tb[rowKey{r.Device, r.Prefix, r.Lo}] = r.Hi
	}
	return tb
}

func sortRanges(rs []Range) {
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.Device != b.Device:
			return compare(a.Device, b.Device)
		case a.Prefix != b.Prefix:
			if a.Prefix < b.Prefix {
				return -1
			}
			return 1
		}
		return compare(a.Lo, b.Lo)
	})
}

func compare(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkSet checks that s is well formed: Ranges sorted, each key's ranges
// disjoint and not adjacent, and Len counting them.
func checkSet(t testing.TB, s *Set) []Range {
	t.Helper()
	rs := s.Ranges()
	if got, want := s.Len(), len(rs); got != want {
		t.Fatalf("Len() = %d, want %d (len(Ranges()))", got, want)
	}
	for i, r := range rs {
		if r.Lo > r.Hi {
			t.Fatalf("Ranges()[%d] = %+v: Lo > Hi", i, r)
		}
		if i == 0 {
			continue
		}
		p := rs[i-1]
		if p.Device == r.Device && p.Prefix == r.Prefix && p.Hi+1 >= r.Lo {
			t.Fatalf("Ranges()[%d..%d] = %+v, %+v: got overlapping or adjacent, want merged", i-1, i, p, r)
		}
	}
	return rs
}

// ids returns the set of "device/sourceID" the ranges stand for.
func ids(rs []Range) map[string]bool {
	m := make(map[string]bool)
	for _, r := range rs {
		for n := r.Lo; n <= r.Hi; n++ {
			m[modelKey(r.Device, r.Prefix+strconv.FormatInt(n, 10))] = true
		}
	}
	return m
}

func modelKey(device int64, sourceID string) string {
	return strconv.FormatInt(device, 10) + "/" + sourceID
}

func sameRanges(t testing.TB, what string, got, want []Range) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// TestAgainstModel runs random transactions against a brute-force
// map[string]bool of stored (device, source id) pairs: increasing counters
// with jitter and gaps, random counters, duplicates within a transaction,
// dropped transactions and reloads. After every transaction the Set must
// hold exactly the model and the table replayed from Changes must equal
// Ranges.
func TestAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runModel(t, rand.New(rand.NewPCG(seed, 42)))
		})
	}
}

func runModel(t *testing.T, rng *rand.Rand) {
	devices := []int64{1, 2, 3, -4, math.MaxInt64}
	prefixes := []string{"", "gate-7-", "A1B2-run9-", "門-"}
	type seqKey struct {
		device int64
		prefix string
	}
	next := make(map[seqKey]int64)

	s := New()
	tb := make(table)
	model := make(map[string]bool)
	for round := range 200 {
		mode := rng.IntN(4)
		txn := s.Begin()
		added := make(map[string]bool)
		for range rng.IntN(60) {
			dev := devices[rng.IntN(len(devices))]
			prefix := prefixes[rng.IntN(len(prefixes))]
			sk := seqKey{dev, prefix}
			var n int64
			switch mode {
			case 0: // increasing, with jitter and gaps
				n = next[sk] + int64(rng.IntN(4)) - 1
				if rng.IntN(10) == 0 {
					n += int64(rng.IntN(20))
				}
				n = max(n, 0)
				next[sk] = max(next[sk], n+1)
			case 1: // random, small range so intervals merge
				n = int64(rng.IntN(150))
			case 2: // duplicates of recent counters
				n = max(next[sk]-int64(rng.IntN(5)), 0)
			default: // anything
				n = int64(rng.IntN(400))
			}
			id := prefix + strconv.FormatInt(n, 10)
			p, c, ok := Split(id)
			if !ok || p != prefix || c != n {
				t.Fatalf("Split(%q) = %q, %d, %v; want %q, %d, true", id, p, c, ok, prefix, n)
			}
			mk := modelKey(dev, id)
			want := model[mk] || added[mk]
			if got := txn.Has(dev, p, c); got != want {
				t.Fatalf("round %d: Has(%d, %q, %d) = %v, want %v", round, dev, p, c, got, want)
			}
			if rng.IntN(5) > 0 {
				txn.Add(dev, p, c)
				added[mk] = true
				if !txn.Has(dev, p, c) {
					t.Fatalf("round %d: Has(%d, %q, %d) after Add = false, want true", round, dev, p, c)
				}
			}
		}
		deleted, upserted := txn.Changes()
		after := maps.Clone(tb)
		after.apply(t, deleted, upserted)
		if rng.IntN(4) > 0 {
			txn.Commit()
			tb = after
			for k := range added {
				model[k] = true
			}
		}
		// Otherwise the SQL transaction failed: drop the Txn, and let the
		// next Begin (or Load) end it.
		rs := checkSet(t, s)
		if !maps.Equal(tb, tableOf(rs)) {
			t.Fatalf("round %d: table replayed from Changes: got %+v, want %+v", round, tb.ranges(), rs)
		}
		if round%10 == 9 {
			// Has checks the model all along; a full comparison is slower.
			got := ids(rs)
			if len(got) != len(model) {
				t.Fatalf("round %d: Set holds %d ids, want %d", round, len(got), len(model))
			}
			for k := range model {
				if !got[k] {
					t.Fatalf("round %d: Set lacks %s", round, k)
				}
			}
		}
		if rng.IntN(20) == 0 {
			// Restart: load the table in a random order.
			shuffled := tb.ranges()
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			s = New()
			s.Load(shuffled)
			sameRanges(t, fmt.Sprintf("round %d: Ranges after Load", round), checkSet(t, s), rs)
		}
	}
}

// TestChanges checks that Changes writes the minimal rows for each way a
// transaction can change intervals.
func TestChanges(t *testing.T) {
	r := func(device int64, prefix string, lo, hi int64) Range { return Range{device, prefix, lo, hi} }
	tests := []struct {
		name     string
		load     []Range
		adds     []int64 // to device 1, prefix "p-"
		deleted  []Range
		upserted []Range
	}{
		{name: "nothing"},
		{name: "new key", adds: []int64{5}, upserted: []Range{r(1, "p-", 5, 5)}},
		{name: "new key, run", adds: []int64{5, 6, 7}, upserted: []Range{r(1, "p-", 5, 7)}},
		{name: "new key, two", adds: []int64{5, 9}, upserted: []Range{r(1, "p-", 5, 5), r(1, "p-", 9, 9)}},
		{
			name: "duplicate only",
			load: []Range{r(1, "p-", 1, 10)},
			adds: []int64{1, 5, 10},
		},
		{
			name:     "extend upward",
			load:     []Range{r(1, "p-", 1, 10)},
			adds:     []int64{11, 12, 13},
			upserted: []Range{r(1, "p-", 1, 13)},
		},
		{
			name:     "extend downward",
			load:     []Range{r(1, "p-", 5, 10)},
			adds:     []int64{4},
			deleted:  []Range{r(1, "p-", 5, 10)},
			upserted: []Range{r(1, "p-", 4, 10)},
		},
		{
			name:     "new interval after a gap",
			load:     []Range{r(1, "p-", 1, 10)},
			adds:     []int64{12},
			upserted: []Range{r(1, "p-", 12, 12)},
		},
		{
			name:     "fill gap",
			load:     []Range{r(1, "p-", 1, 10), r(1, "p-", 12, 20)},
			adds:     []int64{11},
			deleted:  []Range{r(1, "p-", 12, 20)},
			upserted: []Range{r(1, "p-", 1, 20)},
		},
		{
			name:     "gap opened and filled in one transaction",
			load:     []Range{r(1, "p-", 1, 10)},
			adds:     []int64{12, 13, 11},
			upserted: []Range{r(1, "p-", 1, 13)},
		},
		{
			name:     "fill three gaps",
			load:     []Range{r(1, "p-", 1, 1), r(1, "p-", 3, 3), r(1, "p-", 5, 5), r(1, "p-", 7, 7)},
			adds:     []int64{6, 2, 4},
			deleted:  []Range{r(1, "p-", 3, 3), r(1, "p-", 5, 5), r(1, "p-", 7, 7)},
			upserted: []Range{r(1, "p-", 1, 7)},
		},
		{
			name:     "other keys untouched",
			load:     []Range{r(1, "p-", 1, 10), r(1, "q-", 1, 10), r(2, "p-", 1, 10)},
			adds:     []int64{11},
			upserted: []Range{r(1, "p-", 1, 11)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			s.Load(tt.load)
			tb := make(table)
			tb.apply(t, nil, tt.load)
			txn := s.Begin()
			for _, n := range tt.adds {
				txn.Add(1, "p-", n)
			}
			deleted, upserted := txn.Changes()
			sameRanges(t, "deleted", deleted, tt.deleted)
			sameRanges(t, "upserted", upserted, tt.upserted)
			tb.apply(t, deleted, upserted)
			txn.Commit()
			sameRanges(t, "table after Commit", tb.ranges(), checkSet(t, s))
		})
	}
}

// TestChangesOrder checks that keys come in the order the Txn first changed
// them, so that the caller's writes are deterministic.
func TestChangesOrder(t *testing.T) {
	s := New()
	s.Load([]Range{{3, "a", 1, 1}})
	txn := s.Begin()
	txn.Add(3, "a", 2)
	txn.Add(1, "b", 7)
	txn.Add(3, "a", 3)
	txn.Add(2, "", 0)
	_, upserted := txn.Changes()
	want := []Range{{3, "a", 1, 3}, {1, "b", 7, 7}, {2, "", 0, 0}}
	sameRanges(t, "upserted", upserted, want)
}

func TestLoad(t *testing.T) {
	r := func(device int64, prefix string, lo, hi int64) Range { return Range{device, prefix, lo, hi} }
	tests := []struct {
		name  string
		loads [][]Range
		want  []Range
	}{
		{name: "empty", loads: [][]Range{nil}},
		{
			name:  "any order",
			loads: [][]Range{{r(2, "b", 5, 6), r(1, "a", 10, 20), r(1, "a", 1, 3), r(1, "", 0, 0)}},
			want:  []Range{r(1, "", 0, 0), r(1, "a", 1, 3), r(1, "a", 10, 20), r(2, "b", 5, 6)},
		},
		{
			name:  "overlapping",
			loads: [][]Range{{r(1, "a", 5, 15), r(1, "a", 1, 10), r(1, "a", 2, 3)}},
			want:  []Range{r(1, "a", 1, 15)},
		},
		{
			name:  "adjacent",
			loads: [][]Range{{r(1, "a", 4, 6), r(1, "a", 1, 3), r(1, "a", 7, 7)}},
			want:  []Range{r(1, "a", 1, 7)},
		},
		{
			name:  "same Lo",
			loads: [][]Range{{r(1, "a", 1, 3), r(1, "a", 1, 9), r(1, "a", 1, 1)}},
			want:  []Range{r(1, "a", 1, 9)},
		},
		{
			name:  "keys kept apart",
			loads: [][]Range{{r(1, "a", 1, 3), r(2, "a", 4, 6), r(1, "b", 4, 6)}},
			want:  []Range{r(1, "a", 1, 3), r(1, "b", 4, 6), r(2, "a", 4, 6)},
		},
		{
			name:  "merged with what was loaded before",
			loads: [][]Range{{r(1, "a", 1, 3), r(1, "a", 10, 12)}, {r(1, "a", 4, 9), r(1, "a", 20, 20)}},
			want:  []Range{r(1, "a", 1, 12), r(1, "a", 20, 20)},
		},
		{
			name:  "extremes",
			loads: [][]Range{{r(1, "a", math.MaxInt64, math.MaxInt64), r(1, "a", math.MinInt64, math.MaxInt64-1)}},
			want:  []Range{r(1, "a", math.MinInt64, math.MaxInt64)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for _, rs := range tt.loads {
				s.Load(rs)
			}
			sameRanges(t, "Ranges()", checkSet(t, s), tt.want)
		})
	}
}

func TestLoadPanicsOnInvertedRange(t *testing.T) {
	mustPanic(t, "Load(Lo > Hi)", func() { New().Load([]Range{{1, "a", 5, 4}}) })
}

// TestEndedTxn checks that a Txn cannot be used once it has ended, because
// its view of the Set would be stale.
func TestEndedTxn(t *testing.T) {
	tests := []struct {
		name string
		end  func(s *Set, txn *Txn)
	}{
		{"Commit", func(_ *Set, txn *Txn) { txn.Commit() }},
		{"Begin", func(s *Set, _ *Txn) { s.Begin() }},
		{"Load", func(s *Set, _ *Txn) { s.Load(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			txn := s.Begin()
			txn.Add(1, "a", 1)
			tt.end(s, txn)
			mustPanic(t, "Has", func() { txn.Has(1, "a", 1) })
			mustPanic(t, "Add", func() { txn.Add(1, "a", 2) })
			mustPanic(t, "Changes", func() { txn.Changes() })
			mustPanic(t, "Commit", func() { txn.Commit() })
		})
	}
}

func mustPanic(t testing.TB, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: got no panic, want one", what)
		}
	}()
	f()
}

// TestDroppedTxn checks that a Txn that is not committed leaves the Set as
// it was, even though it shared the Set's storage.
func TestDroppedTxn(t *testing.T) {
	s := New()
	s.Load([]Range{{1, "a", 1, 10}, {1, "a", 20, 30}})
	want := s.Ranges()
	txn := s.Begin()
	for n := int64(0); n < 40; n++ {
		txn.Add(1, "a", n)
	}
	txn.Add(2, "b", 1)
	s.Begin() // drops txn
	sameRanges(t, "Ranges() after a dropped Txn", checkSet(t, s), want)
	txn = s.Begin()
	if txn.Has(1, "a", 15) || txn.Has(2, "b", 1) {
		t.Fatalf("Has of a dropped Add: got true, want false")
	}
}

// TestPrefixCopied checks that the Set does not keep the caller's prefix,
// which usually points into a request buffer and would pin it.
func TestPrefixCopied(t *testing.T) {
	id := string([]byte("gate-12"))
	prefix, n, _ := Split(id)
	s := New()
	txn := s.Begin()
	txn.Add(1, prefix, n)
	_, upserted := txn.Changes()
	txn.Commit()
	for k := range s.m {
		if sharesMemory(k.prefix, id) {
			t.Errorf("Set key prefix %q: got the caller's memory, want a copy", k.prefix)
		}
	}
	if sharesMemory(upserted[0].Prefix, id) {
		t.Errorf("Changes prefix %q: got the caller's memory, want a copy", upserted[0].Prefix)
	}
}

// sharesMemory reports whether the bytes of a lie within those of b.
func sharesMemory(a, b string) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.StringData(a))), uintptr(unsafe.Pointer(unsafe.StringData(b)))
	return pa >= pb && pa < pb+uintptr(len(b))
}

// steadyBatch feeds one batch of increasing counters from len(next) devices,
// events in all, as the ingest writer would.
func steadyBatch(s *Set, next []int64, events int, prefix string) {
	txn := s.Begin()
	for i := range events {
		dev := i % len(next)
		n := next[dev]
		if !txn.Has(int64(dev), prefix, n) {
			txn.Add(int64(dev), prefix, n)
		}
		next[dev]++
	}
	txn.Changes()
	txn.Commit()
}

// TestSteadyAllocs checks that the common batch allocates per transaction,
// not per event.
func TestSteadyAllocs(t *testing.T) {
	s := New()
	next := make([]int64, 500)
	steadyBatch(s, next, 5000, "gate-")
	allocs := testing.AllocsPerRun(20, func() { steadyBatch(s, next, 5000, "gate-") })
	if allocs > 10 {
		t.Errorf("allocations per batch of 5000 events: got %v, want at most 10", allocs)
	}
	if got, want := s.Len(), 500; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

// TestMemoryPerKey checks the memory of a key with one interval, so that
// millions of devices fit.
func TestMemoryPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100k keys")
	}
	per := bytesPerKey(t, 100_000)
	t.Logf("%.1f bytes per key with one interval and an 8-byte prefix", per)
	if per > 120 {
		t.Errorf("bytes per key: got %.1f, want at most 120", per)
	}
}

func bytesPerKey(t testing.TB, keys int) float64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New()
	txn := s.Begin()
	for i := range keys {
		txn.Add(int64(i), "gate-77-", 1)
		txn.Add(int64(i), "gate-77-", 2)
	}
	txn.Commit()
	s.Begin() // a large Txn's scratch is not kept
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.Len(); got != keys {
		t.Fatalf("Len() = %d, want %d", got, keys)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(keys)
	runtime.KeepAlive(s)
	return per
}

// BenchmarkTxn measures the common ingest batch: 5000 events from 500
// devices, each device's counters increasing by 1, then some out of order
// and with gaps, then random counters, the worst case.
func BenchmarkTxn(b *testing.B) {
	const events, devices = 5000, 500
	b.Run("increasing", func(b *testing.B) {
		s := New()
		next := make([]int64, devices)
		b.ReportAllocs()
		for b.Loop() {
			steadyBatch(s, next, events, "gate-7-")
		}
		reportPerEvent(b, events)
	})
	b.Run("jitter", func(b *testing.B) {
		// Every 25th event swaps with its device's event two rounds later,
		// so that its counter arrives after a gap that fills soon.
		s := New()
		next := make([]int64, devices)
		ns := make([]int64, events)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for i := range ns {
				dev := i % devices
				ns[i] = next[dev]
				next[dev]++
			}
			for i := 0; i+2*devices < events; i += 25 {
				ns[i], ns[i+2*devices] = ns[i+2*devices], ns[i]
			}
			b.StartTimer()
			txn := s.Begin()
			for i, n := range ns {
				dev := int64(i % devices)
				if !txn.Has(dev, "gate-7-", n) {
					txn.Add(dev, "gate-7-", n)
				}
			}
			txn.Changes()
			txn.Commit()
		}
		if got := s.Len(); got != devices {
			b.Fatalf("Len() = %d, want %d: gaps did not merge", got, devices)
		}
		reportPerEvent(b, events)
	})
	b.Run("random", func(b *testing.B) {
		// Random counters, starting from 1000 intervals per device and
		// growing by 10 a batch until a reset every 50 batches.
		rng := rand.New(rand.NewPCG(1, 2))
		initial := make([]Range, 0, devices*1000)
		for dev := range int64(devices) {
			for range 1000 {
				n := rng.Int64N(1 << 40)
				initial = append(initial, Range{dev, "gate-7-", n, n})
			}
		}
		var s *Set
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if i%50 == 0 {
				b.StopTimer()
				s = New()
				s.Load(initial)
				b.StartTimer()
			}
			i++
			txn := s.Begin()
			for i := range events {
				dev := int64(i % devices)
				n := rng.Int64N(1 << 40)
				if !txn.Has(dev, "gate-7-", n) {
					txn.Add(dev, "gate-7-", n)
				}
			}
			txn.Changes()
			txn.Commit()
		}
		reportPerEvent(b, events)
	})
	b.Run("split", func(b *testing.B) {
		// As ingest sees it: Split of the source id, then Has and Add.
		s := New()
		next := make([]int64, devices)
		idList := make([]string, events)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for i := range idList {
				dev := i % devices
				idList[i] = "gate-" + strconv.Itoa(dev) + "-" + strconv.FormatInt(next[dev], 10)
				next[dev]++
			}
			b.StartTimer()
			txn := s.Begin()
			for i, id := range idList {
				prefix, n, ok := Split(id)
				if !ok {
					b.Fatalf("Split(%q) not ok", id)
				}
				dev := int64(i % devices)
				if !txn.Has(dev, prefix, n) {
					txn.Add(dev, prefix, n)
				}
			}
			txn.Changes()
			txn.Commit()
		}
		reportPerEvent(b, events)
	})
}

func reportPerEvent(b *testing.B, events int) {
	b.Helper()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

func BenchmarkMemoryPerKey(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(bytesPerKey(b, 100_000), "B/key")
	}
}
