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
		c.Apply(i*3+1, randomDeltas(r, m, 50))
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
		got.Apply(got.Seq()+1, deltas)
		for range 50 {
			from, to := randomWindow(r, m)
			checkBuckets(t, got, m, randomSelection(r), from, to)
		}
	}
}

func must(n int, _ int64) int { return n }

func TestSnapshotEmpty(t *testing.T) {
	got := New()
	got.Apply(5, []Delta{{TimeMS: 1, N: 1}})
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
	oneHour := appendSeries(nil, []bucket[uint32]{{num: 10, total: 1, table: table[uint32, uint32]{[]uint32{5}, []uint32{1}}}})
	oneDevDay := appendSeries(nil, []bucket[uint64]{{num: 0, total: 1, table: table[uint64, uint32]{[]uint64{5}, []uint32{1}}}})
	otherDevDay := appendSeries(nil, []bucket[uint64]{{num: 0, total: 2, table: table[uint64, uint32]{[]uint64{5}, []uint32{2}}}})
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"nil", nil, "not a snapshot"},
		{"magic only", []byte(snapshotMagic), "not a snapshot"},
		{"other magic", cat([]byte("xlrc"), good[4:]), "not a snapshot"},
		{"other version", seal(cat(header(2, 0), []byte{0, 0})), "version 2"},
		{"version 0", seal(cat(header(0, 0), []byte{0, 0})), "version 0"},
		{"bad checksum", cat(body, []byte{1, 2, 3, 4}), "checksum"},
		{"flipped bit", cat(body[:20], []byte{body[20] ^ 4}, good[21:]), "checksum"},
		{"truncated", good[:len(good)-1], "checksum"},
		{"trailing byte", seal(cat(body, []byte{0})), "trailing"},
		{"negative seq", seal(cat(header(1, -1), []byte{0, 0})), "seq"},
		{"no tables", seal(header(1, 3)), "varint"},
		{"missing device table", seal(cat(header(1, 3), hours)), "varint"},
		{"tables disagree", seal(cat(header(1, 3), oneHour, otherDevDay)), "device table"},
		{"day only in the hour table", seal(cat(header(1, 3), oneHour, []byte{0})), "days"},
		{"agreeing tables", seal(cat(header(1, 3), oneHour, oneDevDay)), ""},
		{"huge bucket count", seal(cat(header(1, 3), binary.AppendUvarint(nil, 1<<40), devDays)), "bucket count"},
		{"empty bucket", seal(cat(header(1, 3), []byte{1, 0, 0}, []byte{0})), "entry count"},
		{"huge entry count", seal(cat(header(1, 3), []byte{1, 0}, binary.AppendUvarint(nil, 1<<40), []byte{0, 1, 0})), "entry count"},
		{"buckets out of order", seal(cat(header(1, 3), []byte{2, 0, 1, 0, 1, 0, 1, 0, 1}, []byte{0})), "bucket order"},
		{"bucket out of range", seal(cat(header(1, 3), []byte{1}, binary.AppendVarint(nil, math.MinInt64), []byte{1, 0, 1}, []byte{0})), "bucket number"},
		{"keys out of order", seal(cat(header(1, 3), []byte{1, 0, 2, 5, 1, 0, 1}, []byte{0})), "key order"},
		{"key too big", seal(cat(header(1, 3), []byte{1, 0, 1}, binary.AppendUvarint(nil, 1<<32), []byte{1}, []byte{0})), "key order"},
		{"zero count", seal(cat(header(1, 3), []byte{1, 0, 1, 5, 0}, []byte{0})), "count"},
		{"count too big", seal(cat(header(1, 3), []byte{1, 0, 1, 5}, binary.AppendUvarint(nil, 1<<32), []byte{0})), "count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			c.Apply(4, []Delta{{TimeMS: 99, Site: 1, Device: 1, Kind: 1, N: 1}})
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
