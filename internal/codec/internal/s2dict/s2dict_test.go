package s2dict

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/doorlog/doorlog/internal/codec/internal/samples"
)

// codecDict is package codec's dictionary: the one this encoder exists for.
func codecDict(tb testing.TB) []byte {
	tb.Helper()
	d, err := os.ReadFile("../../dict_v1.bin")
	if err != nil {
		tb.Fatalf("read the codec's dictionary: %v", err)
	}
	return d
}

// random returns n bytes that do not compress.
func random(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// roundTrip encodes src with an Encoder for dict and checks that s2 decodes
// it back with the same dictionary. It returns the block.
func roundTrip(tb testing.TB, dict, src []byte) []byte {
	tb.Helper()
	enc, err := NewEncoder(dict)
	if err != nil {
		tb.Fatalf("NewEncoder: %v", err)
	}
	block := enc.Encode(nil, src)
	got, err := s2.NewDict(dict).Decode(nil, block)
	if err != nil {
		tb.Fatalf("decode the block of %d bytes (%.40q…): %v", len(src), src, err)
	}
	if !bytes.Equal(got, src) {
		tb.Fatalf("round trip of %d bytes: got %d bytes %.40q…, want %.40q…", len(src), len(got), got, src)
	}
	return block
}

func TestEncodeRoundTrip(t *testing.T) {
	dict := codecDict(t)
	content := s2.NewDict(dict).Bytes()[1:] // as long as the repeat index has one byte
	tests := []struct {
		name string
		src  []byte
	}{
		{"empty", nil},
		{"one byte", []byte("{")},
		{"three bytes", []byte("{}}")},
		{"short model", []byte(`{"lock":1}`)},
		{"card model", []byte(`{"apartment_address":"Flat 36","lock":1,"number":13413393,"owner":"Samuel Patel","type":"card"}`)},
		{"whole dictionary", content},
		{"dictionary twice", append(bytes.Clone(content), content...)},
		{"run", bytes.Repeat([]byte("a"), 1000)},
		{"random", random(3000, 1)},
		// Past s2.MaxDictSrcOffset the decoder refuses copies from the
		// dictionary, so the dictionary's content must come out as
		// literals or copies of the input.
		{"dictionary after 64 KiB", append(random(70_000, 2), content...)},
		// Offsets over 65535 need five-byte copies.
		{"far repeat", func() []byte { r := random(70_000, 3); return append(r, r[:100]...) }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roundTrip(t, dict, tt.src)
		})
	}
}

func TestEncodeSimModels(t *testing.T) {
	dict := codecDict(t)
	enc, err := NewEncoder(dict)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	dec := s2.NewDict(dict)
	models := samples.Sim(3, 5000)
	cat, err := samples.Catalog(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	var block, got []byte
	for _, m := range append(models, cat...) {
		block = enc.Encode(block[:0], m)
		if got, err = dec.Decode(got[:cap(got)], block); err != nil || !bytes.Equal(got, m) {
			t.Fatalf("round trip of %s: got %q, %v", m, got, err)
		}
	}
}

func TestEncodeAppends(t *testing.T) {
	dict := codecDict(t)
	enc, err := NewEncoder(dict)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	src := []byte(`{"lock":2}`)
	want := enc.Encode(nil, src)
	got := enc.Encode([]byte("prefix"), src)
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Errorf("Encode onto a prefix: got %q, want %q", got, append([]byte("prefix"), want...))
	}
}

// TestNoRepeatOffset checks a dictionary whose repeat index is its end: the
// decoder starts with offset 0, which no copy may use.
func TestNoRepeatOffset(t *testing.T) {
	content := []byte(`{"apartment_address":"Flat 1","lock":1,"number":1234567,"owner":"Emma Smith","type":"card"}`)
	dict := append(binary.AppendUvarint(nil, uint64(len(content))), content...)
	if s2.NewDict(dict) == nil {
		t.Fatal("s2.NewDict refuses a repeat index at the end; the test needs another dictionary")
	}
	for _, src := range [][]byte{content, []byte(`{"apartment_address":"Flat 2"}`), []byte("aaaaaaaaaaaaaaaa")} {
		roundTrip(t, dict, src)
	}
}

func TestNewEncoderRejects(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789"), 4)
	tests := []struct {
		name string
		dict []byte
	}{
		{"nil", nil},
		{"bad uvarint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"too short", append([]byte{0}, "short"...)},
		{"repeat past the end", append(binary.AppendUvarint(nil, uint64(len(content)+1)), content...)},
		{"too long", append([]byte{0}, make([]byte, s2.MaxDictSize+1)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if enc, err := NewEncoder(tt.dict); err == nil {
				t.Errorf("NewEncoder: got %v, nil error; want an error", enc)
			}
		})
	}
}

// decodeNoDict decodes a block written without a dictionary.
func decodeNoDict(tb testing.TB, block []byte) []byte {
	tb.Helper()
	got, err := s2.Decode(nil, block)
	if err != nil {
		tb.Fatalf("s2.Decode: %v", err)
	}
	return got
}

// TestEmitLiteral checks every literal length encoding at its bounds.
func TestEmitLiteral(t *testing.T) {
	for _, n := range []int{1, 60, 61, 256, 257, 1 << 16, 1<<16 + 1, 1 << 24, 1<<24 + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			lit := random(n, uint64(n))
			block := emitLiteral(binary.AppendUvarint(nil, uint64(n)), lit)
			if got := decodeNoDict(t, block); !bytes.Equal(got, lit) {
				t.Errorf("literal of %d bytes: got %d bytes back, want them equal", n, len(got))
			}
		})
	}
}

// TestEmitCopy checks copies and repeats of every length encoding at its
// bounds: one byte, then a copy of n bytes at offset 1, which is a
// two-byte copy up to 11 bytes and a three-byte copy of 64 and a repeat of
// the rest beyond.
func TestEmitCopy(t *testing.T) {
	lengths := []int{4, 11, 12, 64, 65, 67, 68, 72, 73, 327, 328, 329,
		64 + 65795, 64 + 65796, 64 + 1<<24 + 65539, 64 + 1<<24 + 65540, 64 + 1<<24 + 65560}
	for _, n := range lengths {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			block := binary.AppendUvarint(nil, uint64(1+n))
			block = emitLiteral(block, []byte("x"))
			block = emitCopy(block, 1, n)
			got := decodeNoDict(t, block)
			if want := bytes.Repeat([]byte("x"), 1+n); !bytes.Equal(got, want) {
				t.Errorf("copy of %d: got %d bytes, want %d", n, len(got), len(want))
			}
			// The costs the parser weighs are what emitCopy writes.
			if cost, wrote := copyCost(1, n), len(block)-len(binary.AppendUvarint(nil, uint64(1+n)))-2; cost != wrote {
				t.Errorf("copyCost(1, %d) = %d, want %d (the bytes emitCopy wrote)", n, cost, wrote)
			}
		})
	}
	t.Run("far", func(t *testing.T) {
		r := random(70_000, 4)
		block := binary.AppendUvarint(nil, uint64(len(r)+100))
		block = emitLiteral(block, r)
		block = emitCopy(block, len(r), 100)
		if got, want := decodeNoDict(t, block), append(bytes.Clone(r), r[:100]...); !bytes.Equal(got, want) {
			t.Errorf("far copy: got %d bytes, want %d equal to the input", len(got), len(want))
		}
	})
}
