package rollup

import (
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
)

// at is the time of day d (from the epoch), hour h, minute m.
func at(d, h, m int64) int64 { return d*dayMS + h*hourMS + m*60_000 }

const d0 = 20_000 // a day in 2024

func exact(from, to, n int64) Bucket { return Bucket{FromMS: from, ToMS: to, N: n, Exact: true} }
func partial(from, to int64) Bucket  { return Bucket{FromMS: from, ToMS: to} }
func hour(d, h, n int64) Bucket      { return exact(at(d, h, 0), at(d, h+1, 0)-1, n) }
func day(d, n int64) Bucket          { return exact(at(d, 0, 0), at(d+1, 0, 0)-1, n) }

func TestBucketsLayout(t *testing.T) {
	c := New()
	ev := func(t int64, dev, kind uint32) Delta { return Delta{TimeMS: t, Site: 1, Device: dev, Kind: kind, N: 1} }
	mustApply(t, c, 9, []Delta{
		ev(at(d0, 10, 30), 1, 1),
		ev(at(d0, 11, 5), 2, 1),
		ev(at(d0, 23, 59), 1, 2),
		ev(at(d0+1, 1, 0), 1, 1),
		ev(at(d0+2, 5, 0), 1, 1),
		ev(at(d0+2, 10, 20), 2, 1),
		ev(-1, 3, 1),
		ev(0, 3, 1),
		ev(math.MinInt64, 3, 1),
		ev(math.MaxInt64, 3, 1),
	})
	lastDay := floorDiv(math.MaxInt64, dayMS)
	tests := []struct {
		name     string
		sel      Selection
		from, to int64
		want     []Bucket
	}{
		{"inside one hour", Selection{}, at(d0, 10, 15), at(d0, 10, 45),
			[]Bucket{partial(at(d0, 10, 15), at(d0, 10, 45))}},
		{"one whole hour", Selection{}, at(d0, 10, 0), at(d0, 11, 0) - 1,
			[]Bucket{hour(d0, 10, 1)}},
		{"one whole hour without events", Selection{}, at(d0, 12, 0), at(d0, 13, 0) - 1, nil},
		{"partial first day", Selection{}, at(d0, 10, 15), at(d0+1, 0, 0) - 1,
			[]Bucket{partial(at(d0, 10, 15), at(d0, 11, 0)-1), hour(d0, 11, 1), hour(d0, 23, 1)}},
		{"across days", Selection{}, at(d0, 10, 15), at(d0+2, 10, 0),
			[]Bucket{partial(at(d0, 10, 15), at(d0, 11, 0)-1), hour(d0, 11, 1), hour(d0, 23, 1), day(d0+1, 1), hour(d0+2, 5, 1), partial(at(d0+2, 10, 0), at(d0+2, 10, 0))}},
		{"whole days", Selection{}, at(d0, 0, 0), at(d0+3, 0, 0) - 1,
			[]Bucket{day(d0, 3), day(d0+1, 1), day(d0+2, 2)}},
		{"whole hours at the edges", Selection{}, at(d0, 11, 0), at(d0+2, 6, 0) - 1,
			[]Bucket{hour(d0, 11, 1), hour(d0, 23, 1), day(d0+1, 1), hour(d0+2, 5, 1)}},
		{"kind filter", Selection{Kinds: []uint32{2}}, at(d0, 0, 0), at(d0+3, 0, 0) - 1,
			[]Bucket{day(d0, 1)}},
		{"site filter", Selection{Sites: []uint32{2}}, at(d0, 10, 15), at(d0+2, 10, 0),
			[]Bucket{partial(at(d0, 10, 15), at(d0, 11, 0)-1), partial(at(d0+2, 10, 0), at(d0+2, 10, 0))}},
		{"across midnight before 1970", Selection{}, -30 * 60_000, 30*60_000 - 1,
			[]Bucket{partial(-30*60_000, -1), partial(0, 30*60_000-1)}},
		{"open", Selection{}, math.MinInt64, math.MaxInt64,
			[]Bucket{exact(math.MinInt64, bucketEnd(floorDiv(math.MinInt64, dayMS), dayMS), 1), day(-1, 1), day(0, 1), day(d0, 3), day(d0+1, 1), day(d0+2, 2),
				exact(lastDay*dayMS, math.MaxInt64, 1)}},
		{"open start", Selection{Kinds: []uint32{1}}, math.MinInt64, at(d0+2, 7, 0) - 1,
			[]Bucket{exact(math.MinInt64, bucketEnd(floorDiv(math.MinInt64, dayMS), dayMS), 1), day(-1, 1), day(0, 1), day(d0, 2), day(d0+1, 1), hour(d0+2, 5, 1)}},
		{"open end", Selection{}, at(d0+2, 10, 20), math.MaxInt64,
			[]Bucket{partial(at(d0+2, 10, 20), at(d0+2, 11, 0)-1), exact(lastDay*dayMS, math.MaxInt64, 1)}},
		{"device, across days", Selection{Devices: []uint32{1}}, at(d0, 10, 15), at(d0+2, 10, 0),
			[]Bucket{partial(at(d0, 10, 15), at(d0+1, 0, 0)-1), day(d0+1, 1), partial(at(d0+2, 0, 0), at(d0+2, 10, 0))}},
		{"device, inside one day", Selection{Devices: []uint32{2}}, at(d0, 10, 15), at(d0, 12, 0),
			[]Bucket{partial(at(d0, 10, 15), at(d0, 12, 0))}},
		{"device and kind, whole days", Selection{Devices: []uint32{1, 2}, Kinds: []uint32{1}}, at(d0, 0, 0), at(d0+3, 0, 0) - 1,
			[]Bucket{day(d0, 2), day(d0+1, 1), day(d0+2, 2)}},
		{"device in another site", Selection{Devices: []uint32{1}, Sites: []uint32{2}}, math.MinInt64, math.MaxInt64, nil},
		{"no devices", Selection{Devices: []uint32{}}, at(d0, 10, 15), at(d0+2, 10, 0),
			[]Bucket{partial(at(d0, 10, 15), at(d0+1, 0, 0)-1), partial(at(d0+2, 0, 0), at(d0+2, 10, 0))}},
		{"empty window", Selection{}, at(d0, 11, 0), at(d0, 10, 0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, seq := c.Buckets(tt.sel, tt.from, tt.to)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Buckets:\ngot  %+v\nwant %+v", got, tt.want)
			}
			if seq != 9 {
				t.Errorf("Buckets seq: got %d, want 9", seq)
			}
		})
	}
}

func TestTotal(t *testing.T) {
	c := New()
	mustApply(t, c, 3, []Delta{
		{TimeMS: at(d0, 1, 0), Site: 1, Device: 1, Kind: 1, N: 5},
		{TimeMS: at(d0+40, 1, 0), Site: 1, Device: 2, Kind: 2, N: 2},
		{TimeMS: -at(400, 0, 0), Site: 2, Device: 3, Kind: 1, N: 1},
		{TimeMS: at(d0, 2, 0), Kind: 3, N: 1}, // a server event
	})
	tests := []struct {
		name string
		sel  Selection
		want int64
	}{
		{"all", Selection{}, 9},
		{"site", Selection{Sites: []uint32{1}}, 7},
		{"server", Selection{Sites: []uint32{0}}, 1},
		{"kind", Selection{Kinds: []uint32{1}}, 6},
		{"site and kind", Selection{Sites: []uint32{1, 2}, Kinds: []uint32{1}}, 6},
		{"device", Selection{Devices: []uint32{2, 3}}, 3},
		{"server device", Selection{Devices: []uint32{0}}, 1},
		{"device and kind", Selection{Devices: []uint32{1, 2, 3}, Kinds: []uint32{2}}, 2},
		{"device and site", Selection{Devices: []uint32{1, 2, 3}, Sites: []uint32{2}}, 1},
		{"no site", Selection{Sites: []uint32{}}, 0},
		{"kind without events", Selection{Kinds: []uint32{1 << 13}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, seq := c.Total(tt.sel)
			if n != tt.want || seq != 3 {
				t.Errorf("Total: got %d at seq %d, want %d at seq 3", n, seq, tt.want)
			}
		})
	}
}

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{0, hourMS, 0},
		{hourMS - 1, hourMS, 0},
		{hourMS, hourMS, 1},
		{-1, hourMS, -1},
		{-hourMS, hourMS, -1},
		{-hourMS - 1, hourMS, -2},
		{math.MinInt64, dayMS, refFloor(math.MinInt64, dayMS)},
		{math.MaxInt64, dayMS, refFloor(math.MaxInt64, dayMS)},
	}
	for _, tt := range tests {
		if got := floorDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("floorDiv(%d, %d): got %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestApplyRejects checks that Apply refuses what it cannot count exactly
// with an error, never a panic, and leaves the counts as they were.
func TestApplyRejects(t *testing.T) {
	ok := Delta{TimeMS: 1000, Site: 1, Device: 1, Kind: 1, N: 1}
	tests := []struct {
		name   string
		seq    int64
		deltas []Delta
	}{
		{"n too big", 5, []Delta{ok, {N: math.MaxUint32 + 1}}},
		{"n too small", 5, []Delta{ok, {N: -math.MaxUint32 - 1}}},
		{"below zero", 5, []Delta{ok, {TimeMS: 1000, Site: 1, Device: 1, Kind: 1, N: -4}}},
		{"new entry below zero", 5, []Delta{ok, {TimeMS: 9e9, Site: 1, Device: 1, Kind: 1, N: -1}}},
		{"above 2^32-1", 5, []Delta{{TimeMS: 1000, Site: 1, Device: 1, Kind: 1, N: math.MaxUint32}}},
		{"seq backwards", 1, []Delta{ok}},
		{"device in another site", 5, []Delta{ok, {TimeMS: 1000, Site: 2, Device: 1, Kind: 1, N: 1}}},
		{"new device in two sites", 5, []Delta{{Site: 3, Device: 7, N: 1}, {Site: 4, Device: 7, N: 1}}},
		{"server device in a site", 5, []Delta{{Site: 3, Device: 0, N: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			mustApply(t, c, 2, []Delta{ok, ok, {Kind: 2, N: 1}})
			before := mustMarshal(t, c)
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("Apply(%d, %+v): got panic %v, want an error", tt.seq, tt.deltas, p)
					}
				}()
				err = c.Apply(tt.seq, tt.deltas)
			}()
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Apply(%d, %+v): got error %v, want ErrInvalid", tt.seq, tt.deltas, err)
			}
			if after := mustMarshal(t, c); !slices.Equal(after, before) {
				t.Errorf("counts after the error: got snapshot %x, want unchanged %x", after, before)
			}
			if n, seq := c.Total(Selection{}); n != 3 || seq != 2 {
				t.Errorf("Total after the error: got %d at seq %d, want 3 at seq 2", n, seq)
			}
		})
	}
}

func TestApplyRemoves(t *testing.T) {
	c := New()
	e := Delta{TimeMS: at(d0, 3, 0), Site: 1, Device: 1, Kind: 1, N: 2}
	mustApply(t, c, 1, []Delta{e, {TimeMS: at(d0+1, 3, 0), Site: 1, Device: 1, Kind: 1, N: 1}})
	e.N = -2
	mustApply(t, c, 1, []Delta{e})
	if got, want := mustBuckets(t, c, Selection{}), []Bucket{day(d0+1, 1)}; !slices.Equal(got, want) {
		t.Errorf("Buckets after removal: got %+v, want %+v", got, want)
	}
	if entries, _ := c.Size(); entries != 5 {
		t.Errorf("Size entries after removal: got %d, want 5 (one in each table)", entries)
	}
	checkInvariants(t, c)
}

func mustBuckets(t testing.TB, c *Counts, sel Selection) []Bucket {
	t.Helper()
	bs, _ := c.Buckets(sel, math.MinInt64, math.MaxInt64)
	return bs
}

// TestConcurrentApply runs readers against a writer (under -race it checks
// the locking): every read must see whole Applies and their version, which
// here means exactly perApply events per seq.
func TestConcurrentApply(t *testing.T) {
	const applies, perApply = 300, 7
	c := New()
	var wg sync.WaitGroup
	done := make(chan struct{})
	allDevices := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, sel := range []Selection{{}, {Devices: allDevices}, {Kinds: []uint32{0, 1, 2, 3}}} {
					bs, seq := c.Buckets(sel, math.MinInt64, math.MaxInt64)
					var n int64
					for _, b := range bs {
						n += b.N
					}
					if n != perApply*seq {
						t.Errorf("Buckets(%+v): got %d events at seq %d, want %d", sel, n, seq, perApply*seq)
						return
					}
				}
				if n, seq := c.Total(Selection{Devices: allDevices}); n != perApply*seq {
					t.Errorf("Total: got %d events at seq %d, want %d", n, seq, perApply*seq)
					return
				}
				if _, err := c.MarshalBinary(); err != nil {
					t.Errorf("MarshalBinary: %v", err)
					return
				}
				c.Size()
			}
		})
	}
	for i := range int64(applies) {
		deltas := make([]Delta, perApply)
		for j := range deltas {
			k := i*perApply + int64(j)
			deltas[j] = Delta{TimeMS: (k * 7_919_000) % (10 * dayMS), Site: uint32(k%10%3) + 1, Device: uint32(k % 10), Kind: uint32(k % 4), N: 1}
		}
		mustApply(t, c, i+1, deltas)
	}
	close(done)
	wg.Wait()
}

// TestApplyLargeBatch applies a batch bigger than the scratch space Apply
// keeps, as a rebuild from the events might.
func TestApplyLargeBatch(t *testing.T) {
	c := New()
	deltas := make([]Delta, maxScratch+10)
	for i := range deltas {
		deltas[i] = Delta{TimeMS: int64(i) * 60_000, Site: uint32(i%50%7) + 1, Device: uint32(i % 50), Kind: uint32(i % 30), N: 1}
	}
	mustApply(t, c, int64(len(deltas)), deltas)
	mustApply(t, c, int64(len(deltas))+1, deltas[:1])
	if n, _ := c.Total(Selection{}); n != int64(len(deltas))+1 {
		t.Errorf("Total: got %d, want %d", n, len(deltas)+1)
	}
	var sum int64
	for _, b := range mustBuckets(t, c, Selection{Devices: []uint32{3}}) {
		sum += b.N
	}
	if want := int64(len(deltas)/50) + 1; sum != want {
		t.Errorf("Buckets of device 3: got %d events, want %d", sum, want)
	}
	if cap(c.hourOps) > maxScratch || cap(c.tmp) > maxScratch {
		t.Errorf("scratch space after a large batch: got %d and %d ops kept, want at most %d", cap(c.hourOps), cap(c.tmp), maxScratch)
	}
	checkInvariants(t, c)
}
