package rollup

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// populated returns counts and their model after some random Applies.
func populated(t testing.TB, seed uint64) (*Counts, *model) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 11))
	c, m := New(), newModel()
	for i := range int64(20) {
		mustApply(t, c, i*3+1, randomDeltas(r, m, 50))
	}
	m.index()
	return c, m
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2} {
		c, m := populated(t, seed)
		data := mustMarshal(t, c)
		got := New()
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("UnmarshalBinary: %v", err)
		}
		if got.Seq() != c.Seq() {
			t.Errorf("Seq: got %d, want %d", got.Seq(), c.Seq())
		}
		if ge, _ := got.Size(); ge != must(c.Size()) {
			t.Errorf("Size entries: got %d, want %d", ge, must(c.Size()))
		}
		if again := mustMarshal(t, got); !slices.Equal(again, data) {
			t.Errorf("MarshalBinary after UnmarshalBinary: got %d bytes differing from the %d loaded", len(again), len(data))
		}
		checkInvariants(t, got)
		r := rand.New(rand.NewPCG(seed, 12))
		for range 200 {
			sel := randomSelection(r)
			from, to := randomWindow(r, m)
			gb, _ := got.Buckets(sel, from, to)
			wb, _ := c.Buckets(sel, from, to)
			if !slices.Equal(gb, wb) {
				t.Fatalf("Buckets(%+v, %d, %d) after the round trip: got %+v, want %+v", sel, from, to, gb, wb)
			}
			gn, _ := got.Total(sel)
			wn, _ := c.Total(sel)
			if gn != wn {
				t.Fatalf("Total(%+v) after the round trip: got %d, want %d", sel, gn, wn)
			}
		}
		// The loaded counts take further Applies like the original.
		deltas := randomDeltas(r, m, 100)
		m.index()
		mustApply(t, got, got.Seq()+1, deltas)
		for range 50 {
			from, to := randomWindow(r, m)
			checkBuckets(t, got, m, randomSelection(r), from, to)
		}
	}
}

func must(n int, _ int64) int { return n }

func TestSnapshotEmpty(t *testing.T) {
	got := New()
	mustApply(t, got, 5, []Delta{{TimeMS: 1, N: 1}})
	if err := got.UnmarshalBinary(mustMarshal(t, New())); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if n, seq := got.Total(Selection{}); n != 0 || seq != 0 {
		t.Errorf("Total after loading an empty snapshot: got %d at seq %d, want 0 at seq 0", n, seq)
	}
	if e, _ := got.Size(); e != 0 {
		t.Errorf("Size entries after loading an empty snapshot: got %d, want 0", e)
	}
}

// seal returns body with its checksum, a snapshot that passes the checksum
// whatever body holds, to reach the checks behind it.
func seal(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, crcTable))
}

// header is a snapshot's magic, version and seq.
func header(version byte, seq int64) []byte {
	return binary.AppendVarint(append([]byte(snapshotMagic), version), seq)
}

func TestSnapshotCorrupt(t *testing.T) {
	c, _ := populated(t, 5)
	good := mustMarshal(t, c)
	body := good[:len(good)-4]
	hours := appendSeries(nil, c.hours)
	devDays := appendSeries(nil, c.devDays)
	oneHour := appendSeries(nil, []bucket[uint64]{{num: 10, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}})
	oneDevDay := appendSeries(nil, []bucket[uint64]{{num: 0, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}})
	otherDevDay := appendSeries(nil, []bucket[uint64]{{num: 0, total: 2, table: table[uint64, uint32]{[]uint64{5}, []uint32{2}}}})
	serverDevice := []byte{1, 0, 0} // device 0 in site 0
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	v := byte(snapshotVersion)
	// noDevFine is the device ladder without a split bucket, noFine both
	// ladders without one.
	noDevFine := append([]byte{byte(levels + 1)}, make([]byte, levels+1)...)
	noFine := cat([]byte{byte(levels)}, make([]byte, levels), noDevFine)
	// fineOf is the ladders with one first-level bucket of the site ladder.
	fineOf := func(b bucket[uint64]) []byte {
		return cat([]byte{byte(levels)}, appendSeries(nil, []bucket[uint64]{b}), make([]byte, levels-1), noDevFine)
	}
	quarter := int64(hourMS / fineWidths[0])
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"nil", nil, "not a snapshot"},
		{"magic only", []byte(snapshotMagic), "not a snapshot"},
		{"other magic", cat([]byte("xlrc"), good[4:]), "not a snapshot"},
		{"newer version", seal(cat(header(4, 0), []byte{0, 0, 0})), "version 4"},
		{"version 0", seal(cat(header(0, 0), []byte{0, 0, 0})), "version 0"},
		{"bad checksum", cat(body, []byte{1, 2, 3, 4}), "checksum"},
		{"flipped bit", cat(body[:20], []byte{body[20] ^ 4}, good[21:]), "checksum"},
		{"truncated", good[:len(good)-1], "checksum"},
		{"trailing byte", seal(cat(body, []byte{0})), "trailing"},
		{"negative seq", seal(cat(header(v, -1), []byte{0, 0, 0})), "seq"},
		{"no tables", seal(header(v, 3)), "varint"},
		{"missing device table", seal(cat(header(v, 3), hours)), "varint"},
		{"missing device list", seal(cat(header(v, 3), hours, devDays)), "varint"},
		{"tables disagree", seal(cat(header(v, 3), oneHour, otherDevDay, serverDevice, noFine)), "device table"},
		{"day only in the hour table", seal(cat(header(v, 3), oneHour, []byte{0}, []byte{0}, noFine)), "days"},
		{"agreeing tables", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice, noFine)), ""},
		{"device without a site", seal(cat(header(v, 3), oneHour, oneDevDay, []byte{0}, noFine)), "no site"},
		{"no fine levels", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice)), "varint"},
		{"other fine level count", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice, []byte{1, 0})), "fine level count"},
		{"agreeing fine level", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice,
			fineOf(bucket[uint64]{num: 10*quarter + 2, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}))), ""},
		{"fine level more than its hour", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice,
			fineOf(bucket[uint64]{num: 10*quarter + 2, total: 2, table: table[uint64, uint32]{[]uint64{5}, []uint32{2}}}))), "children of bucket 10"},
		{"fine level in another hour", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice,
			fineOf(bucket[uint64]{num: 11 * quarter, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}))), "children of bucket 11"},
		{"agreeing device ladder", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice, []byte{byte(levels)}, make([]byte, levels),
			[]byte{byte(levels + 1)}, appendSeries(nil, []bucket[uint64]{{num: 10, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}}), make([]byte, levels))), ""},
		{"device ladder in another day", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice, []byte{byte(levels)}, make([]byte, levels),
			[]byte{byte(levels + 1)}, appendSeries(nil, []bucket[uint64]{{num: 24, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}}), make([]byte, levels))), "ladder 1 level 0: the children of bucket 1"},
		{"missing device ladder", seal(cat(header(v, 3), oneHour, oneDevDay, serverDevice, []byte{byte(levels)}, make([]byte, levels))), "varint"},
		{"version 2, agreeing tables", seal(cat(header(2, 3), oneHour, oneDevDay, serverDevice)), ""},
		{"version 2 with fine levels", seal(cat(header(2, 3), oneHour, oneDevDay, serverDevice, noFine)), "trailing"},
		{"devices out of order", seal(cat(header(v, 3), oneHour, oneDevDay, []byte{2, 0, 0, 0, 0})), "device order"},
		{"huge device count", seal(cat(header(v, 3), oneHour, oneDevDay, binary.AppendUvarint(nil, 1<<40), []byte{0, 0})), "device count"},
		{"device too big", seal(cat(header(v, 3), oneHour, oneDevDay, []byte{2, 0, 0}, binary.AppendUvarint(nil, 1<<32), []byte{0})), "device order"},
		{"site too big", seal(cat(header(v, 3), oneHour, oneDevDay, []byte{1, 0}, binary.AppendUvarint(nil, 1<<32))), "device site"},
		{"huge bucket count", seal(cat(header(v, 3), binary.AppendUvarint(nil, 1<<40), devDays, []byte{0})), "bucket count"},
		{"empty bucket", seal(cat(header(v, 3), []byte{1, 0, 0}, []byte{0, 0})), "entry count"},
		{"huge entry count", seal(cat(header(v, 3), []byte{1, 0}, binary.AppendUvarint(nil, 1<<40), []byte{0, 1, 0, 0})), "entry count"},
		{"buckets out of order", seal(cat(header(v, 3), []byte{2, 0, 1, 0, 1, 0, 1, 0, 1}, []byte{0, 0})), "bucket order"},
		{"bucket out of range", seal(cat(header(v, 3), []byte{1}, binary.AppendVarint(nil, math.MinInt64), []byte{1, 0, 1}, []byte{0, 0})), "bucket number"},
		{"keys out of order", seal(cat(header(v, 3), []byte{1, 0, 2, 5, 1, 0, 1}, []byte{0, 0})), "key order"},
		{"key too big", seal(cat(header(v, 3), []byte{1, 0, 2}, binary.AppendUvarint(nil, math.MaxUint64), []byte{1, 1, 1}, []byte{0, 0})), "key order"},
		{"zero count", seal(cat(header(v, 3), []byte{1, 0, 1, 5, 0}, []byte{0, 0})), "count"},
		{"count too big", seal(cat(header(v, 3), []byte{1, 0, 1, 5}, binary.AppendUvarint(nil, 1<<32), []byte{0, 0})), "count"},
		{"version 1, agreeing tables", seal(cat(header(1, 3), oneHour, oneDevDay)), ""},
		{"version 1, key too big", seal(cat(header(1, 3), []byte{1, 0, 1}, binary.AppendUvarint(nil, 1<<32), []byte{1}, []byte{0})), "key order"},
		{"version 1, device in two sites", seal(cat(header(1, 3),
			appendSeries(nil, []bucket[uint32]{{num: 10, total: 2, table: table[uint32, uint32]{[]uint32{1<<12 | 5, 2<<12 | 5}, []uint32{1, 1}}}}),
			appendSeries(nil, []bucket[uint64]{{num: 0, total: 2, table: table[uint64, uint32]{[]uint64{7<<32 | 1<<12 | 5, 7<<32 | 2<<12 | 5}, []uint32{1, 1}}}}))),
			"two sites"},
		{"version 1 with a device list", seal(cat(header(1, 3), oneHour, oneDevDay, serverDevice)), "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			mustApply(t, c, 4, []Delta{{TimeMS: 99, Site: 1, Device: 1, Kind: 1, N: 1}})
			before := mustMarshal(t, c)
			err := c.UnmarshalBinary(tt.data)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("UnmarshalBinary: got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("UnmarshalBinary: got error %v, want one containing %q", err, tt.want)
			}
			if after := mustMarshal(t, c); !slices.Equal(after, before) {
				t.Errorf("counts after a failed UnmarshalBinary: got snapshot %x, want unchanged %x", after, before)
			}
		})
	}
}

// marshalV1 writes c in snapshot format version 1, which packed kinds in 12
// bits and each device's site in its keys, as doorlog wrote it before kinds
// had 32 bits.
func marshalV1(t testing.TB, c *Counts) []byte {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	hours := make([]bucket[uint32], len(c.hours))
	for i, b := range c.hours {
		hours[i] = bucket[uint32]{num: b.num, total: b.total, table: table[uint32, uint32]{make([]uint32, len(b.keys)), b.counts}}
		for j, k := range b.keys {
			if k>>32 >= 1<<20 || uint32(k) >= 1<<12 {
				t.Fatalf("marshalV1: key %#x does not fit version 1", k)
			}
			hours[i].keys[j] = uint32(k>>32)<<12 | uint32(k)
		}
	}
	devDays := make([]bucket[uint64], len(c.devDays))
	for i, b := range c.devDays {
		devDays[i] = bucket[uint64]{num: b.num, total: b.total, table: table[uint64, uint32]{make([]uint64, len(b.keys)), b.counts}}
		for j, k := range b.keys {
			site, ok := c.devSites.get(uint32(k >> 32))
			if !ok || site >= 1<<20 || uint32(k) >= 1<<12 {
				t.Fatalf("marshalV1: key %#x (site %d) does not fit version 1", k, site)
			}
			devDays[i].keys[j] = k>>32<<32 | uint64(site)<<12 | uint64(uint32(k))
		}
	}
	return seal(slices.Concat(header(1, c.seq), appendSeries(nil, hours), appendSeries(nil, devDays)))
}

// TestSnapshotVersion1 checks that a snapshot of the previous format is read
// as the counts it holds, so that an upgrade need not count every event
// again, and that it is written back in the current format.
func TestSnapshotVersion1(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 11))
	c, m := New(), newModel()
	for i := range int64(20) {
		deltas := randomDeltas(r, m, 50)
		// Version 1 held kinds below 4096 and sites below 2^20.
		deltas = slices.DeleteFunc(deltas, func(d Delta) bool { return d.Kind >= 1<<12 || d.Site >= 1<<20 })
		mustApply(t, c, i*3+1, deltas)
	}
	m.index()
	got := New()
	if err := got.UnmarshalBinary(marshalV1(t, c)); err != nil {
		t.Fatalf("UnmarshalBinary of a version 1 snapshot: %v", err)
	}
	if want, again := mustMarshal(t, c), mustMarshal(t, got); !slices.Equal(again, want) {
		t.Fatalf("MarshalBinary after loading version 1: got %x, want %x", again, want)
	}
	checkInvariants(t, got)
	for range 200 {
		sel := randomSelection(r)
		from, to := randomWindow(r, m)
		gb, _ := got.Buckets(sel, from, to)
		wb, _ := c.Buckets(sel, from, to)
		gn, _ := got.Total(sel)
		wn, _ := c.Total(sel)
		if !slices.Equal(gb, wb) || gn != wn {
			t.Fatalf("Buckets(%+v, %d, %d) after loading version 1: got %+v (total %d), want %+v (total %d)", sel, from, to, gb, gn, wb, wn)
		}
	}
}

// TestSnapshotEveryCorruption checks that no truncation or single-byte
// change of a snapshot is loaded.
func TestSnapshotEveryCorruption(t *testing.T) {
	c, _ := populated(t, 6)
	good := mustMarshal(t, c)
	for n := range len(good) {
		if err := New().UnmarshalBinary(good[:n]); err == nil {
			t.Fatalf("UnmarshalBinary of the first %d of %d bytes: got no error, want one", n, len(good))
		}
	}
	bad := slices.Clone(good)
	for i := range bad {
		for _, x := range []byte{1, 0x80, 0xff} {
			bad[i] ^= x
			if err := New().UnmarshalBinary(bad); err == nil {
				t.Fatalf("UnmarshalBinary with byte %d changed by %#x: got no error, want one", i, x)
			}
			bad[i] ^= x
		}
	}
}
