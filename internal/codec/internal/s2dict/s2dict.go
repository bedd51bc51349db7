// Package s2dict encodes S2 blocks (github.com/klauspost/compress/s2) with
// a static dictionary, fast on inputs of a few hundred bytes.
//
// s2.Dict.Encode clears a 64 KiB hash table on every call, and zstd's
// dictionary encoders restore theirs, which costs more than compressing a
// hundred bytes. An Encoder instead indexes its dictionary once and only
// reads the index afterwards; per call it clears a 1 KiB table of the
// input's own positions. It also searches harder than s2's fast encoder
// (every dictionary position with the same four bytes, up to a limit, and
// the last offset), because on small inputs every byte saved is a large
// share, and s2.Dict.Encode does not even try to compress inputs under 17
// bytes. What it writes is a plain S2 block that s2.Dict.Decode reads with
// the same dictionary.
package s2dict

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"github.com/klauspost/compress/s2"
)

// Tuning of the encoder. Changing them changes how well new input
// compresses, never whether blocks already written decode: the output is
// plain S2, whatever matches the encoder chose.
const (
	// dictHashBits sizes the hash table of the dictionary index.
	dictHashBits = 14
	// maxChain is how many dictionary positions with the same hash the
	// encoder tries at one input position. Dictionary chains are short;
	// this bounds the work on an unlucky input.
	maxChain = 8
	// srcHashBits sizes the table of the input's own earlier positions,
	// which is cleared on every Encode: 256 entries cost a few nanoseconds
	// to clear and catch the rare repeats inside an input of a few hundred
	// bytes.
	srcHashBits = 8
	// bigInput is the size beyond which an input gets a table of
	// 1<<bigHashBits positions, allocated for the call: in a big input,
	// repeats inside it are most of what there is to find.
	bigInput    = 2048
	bigHashBits = 14
	// minMatch is the shortest match worth a copy: a copy costs two or
	// three bytes, a literal byte one.
	minMatch = 4
)

// S2 block format limits (github.com/klauspost/compress/s2, README "Format
// extensions", and s2DecodeDict).
const (
	tagLiteral = 0x00
	tagCopy1   = 0x01
	tagCopy2   = 0x02
	tagCopy4   = 0x03
	// maxCopy1Offset is the largest offset a two-byte copy can reach.
	maxCopy1Offset = 2047
	// maxCopy2Offset is the largest offset a three-byte copy can reach.
	maxCopy2Offset = 65535
	// maxRepeatChunk is the length emitRepeat writes at a time when one
	// repeat cannot say all of it: a little less than the most a repeat
	// can say (1<<24 + 1<<16 + 3), so what is left is never too short
	// for a repeat.
	maxRepeatChunk = 1<<24 + 1<<16 - 12
)

// Encoder writes S2 blocks with a dictionary. It is built once by
// NewEncoder and only read afterwards, so any number of goroutines can
// encode with one Encoder at once, and an Encode never has to restore or
// clear it.
type Encoder struct {
	// content is the dictionary's content, as s2 sees it.
	content []byte
	// repeat is the decoder's initial repeat offset (len(content) minus the
	// dictionary's repeat index).
	repeat int
	// head holds, per hash of four bytes, the last position of the content
	// with that hash plus one (0: none); next chains each position to the
	// previous one with the same hash, the same way.
	head [1 << dictHashBits]uint32
	next []uint32
}

// NewEncoder returns an Encoder for dict, a dictionary in the serialized s2
// format (a uvarint repeat index, then the content) that s2.NewDict reads
// and s2.Dict.Bytes writes. The Encoder keeps dict: do not modify it.
func NewEncoder(dict []byte) (*Encoder, error) {
	r, n := binary.Uvarint(dict)
	content := dict[max(n, 0):]
	if n <= 0 || len(content) < s2.MinDictSize || len(content) > s2.MaxDictSize || r > uint64(len(content)) || s2.NewDict(dict) == nil {
		return nil, errors.New("s2dict: not an s2 dictionary")
	}
	x := &Encoder{content: content, repeat: len(content) - int(r), next: make([]uint32, len(content))}
	for i := 0; i+minMatch <= len(content); i++ {
		h := hash4(binary.LittleEndian.Uint32(content[i:]), dictHashBits)
		x.next[i] = x.head[h]
		x.head[h] = uint32(i + 1)
	}
	return x, nil
}

// hash4 hashes four bytes to a number of width bits.
func hash4(u uint32, width uint) uint32 {
	return (u * 2654435761) >> (32 - width)
}

// matchLen returns how many leading bytes a and b have in common.
func matchLen(a, b []byte) int {
	n := 0
	for len(a) >= 8 && len(b) >= 8 {
		if x := binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		a, b, n = a[8:], b[8:], n+8
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return n + i
		}
	}
	return n + min(len(a), len(b))
}

// copyCost is how many bytes emitCopy writes for a copy of length bytes at
// offset.
func copyCost(offset, length int) int {
	switch {
	case offset <= maxCopy1Offset && length <= 11:
		return 2
	case length <= 64 && offset <= maxCopy2Offset:
		return 3
	case length <= 64:
		return 5
	case offset <= maxCopy2Offset:
		return 3 + repeatCost(length-min(64, length-minMatch))
	default:
		return 5 + repeatCost(length-min(64, length-minMatch))
	}
}

// repeatCost is how many bytes emitRepeat writes for length bytes.
func repeatCost(length int) int {
	switch n := length - 4; {
	case n <= 4:
		return 2
	case n < 1<<8+4:
		return 3
	case n < 1<<16+1<<8:
		return 4
	case n < 1<<24+1<<16:
		return 5
	default:
		return 5 + repeatCost(length-maxRepeatChunk)
	}
}

// Encode appends the S2 block of src, with the dictionary in front of it,
// to dst and returns it: the uvarint length of src, then literals and
// copies. Apart from growing dst it allocates only for inputs over 2 KiB.
// It parses greedily, taking at each position the match that saves the
// most bytes among the dictionary's candidates, the input's own earlier
// bytes and the last offset used (a "repeat", which continues a dictionary
// sample after a literal of the same length as the one it replaced, such as
// another card number). src must be shorter than 4 GiB, as S2 requires.
func (x *Encoder) Encode(dst, src []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(src)))
	dict := x.content
	// The input's own positions, plus one (0: none).
	var small [1 << srcHashBits]uint32
	table, tableBits := small[:], uint(srcHashBits)
	if len(src) > bigInput {
		table, tableBits = make([]uint32, 1<<bigHashBits), bigHashBits
	}
	lastOffset := x.repeat
	nextEmit := 0
	for s := 0; s+minMatch <= len(src); {
		cv := binary.LittleEndian.Uint32(src[s:])
		// The best match so far: its length, offset, the bytes it saves
		// and whether it is a repeat of lastOffset.
		bestLen, bestOff, bestGain, repeat := 0, 0, 0, false
		// The decoder copies from the dictionary only while it has written
		// at most s2.MaxDictSrcOffset bytes, and never across its end.
		inDict := s <= s2.MaxDictSrcOffset
		// A repeat costs two bytes whatever the offset.
		var prev []byte
		if p := s - lastOffset; lastOffset <= 0 {
			// A dictionary whose repeat index is its end has no first
			// offset to repeat.
		} else if p >= 0 {
			prev = src[p:]
		} else if p += len(dict); inDict && p >= 0 {
			prev = dict[p:]
		}
		if len(prev) >= minMatch && binary.LittleEndian.Uint32(prev) == cv {
			bestLen = minMatch + matchLen(prev[minMatch:], src[s+minMatch:])
			bestOff, bestGain, repeat = lastOffset, bestLen-repeatCost(bestLen), true
		}
		if inDict {
			c := x.head[hash4(cv, dictHashBits)]
			for i := 0; c != 0 && i < maxChain; i++ {
				p := int(c - 1)
				c = x.next[p]
				if binary.LittleEndian.Uint32(dict[p:]) != cv {
					continue
				}
				// Candidates come nearest first, so one that is not longer
				// than the best so far cannot be cheaper.
				n := minMatch + matchLen(dict[p+minMatch:], src[s+minMatch:])
				if n <= bestLen {
					continue
				}
				off := s + len(dict) - p
				if gain := n - copyCost(off, n); gain >= bestGain {
					bestLen, bestOff, bestGain, repeat = n, off, gain, false
				}
				if s+n == len(src) {
					break // nothing can be longer
				}
			}
		}
		h := hash4(cv, tableBits)
		if c := table[h]; c != 0 {
			p := int(c - 1)
			if binary.LittleEndian.Uint32(src[p:]) == cv {
				n := minMatch + matchLen(src[p+minMatch:], src[s+minMatch:])
				if gain := n - copyCost(s-p, n); gain > bestGain || gain == bestGain && n > bestLen {
					bestLen, bestOff, bestGain, repeat = n, s-p, gain, false
				}
			}
		}
		table[h] = uint32(s + 1)
		if bestGain <= 0 {
			s++
			continue
		}
		dst = emitLiteral(dst, src[nextEmit:s])
		if repeat {
			dst = emitRepeat(dst, bestLen)
		} else {
			dst = emitCopy(dst, bestOff, bestLen)
		}
		lastOffset = bestOff
		s += bestLen
		nextEmit = s
	}
	return emitLiteral(dst, src[nextEmit:])
}

// emitLiteral appends lit as an S2 literal; nothing when lit is empty.
func emitLiteral(dst, lit []byte) []byte {
	n := uint32(len(lit) - 1)
	switch {
	case len(lit) == 0:
		return dst
	case n < 60:
		dst = append(dst, byte(n)<<2|tagLiteral)
	case n < 1<<8:
		dst = append(dst, 60<<2|tagLiteral, byte(n))
	case n < 1<<16:
		dst = append(dst, 61<<2|tagLiteral, byte(n), byte(n>>8))
	case n < 1<<24:
		dst = append(dst, 62<<2|tagLiteral, byte(n), byte(n>>8), byte(n>>16))
	default:
		dst = append(dst, 63<<2|tagLiteral, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	}
	return append(dst, lit...)
}

// emitCopy appends a copy of length bytes (at least minMatch) from offset
// bytes back: one copy tag of up to 64 bytes, and a repeat for the rest.
func emitCopy(dst []byte, offset, length int) []byte {
	if offset <= maxCopy1Offset && length <= 11 {
		return append(dst, byte(offset>>8)<<5|byte(length-4)<<2|tagCopy1, byte(offset))
	}
	first := length
	if length > 64 {
		// Leave at least minMatch bytes for the repeat.
		first = min(64, length-minMatch)
	}
	if offset <= maxCopy2Offset {
		dst = append(dst, byte(first-1)<<2|tagCopy2, byte(offset), byte(offset>>8))
	} else {
		dst = append(dst, byte(first-1)<<2|tagCopy4, byte(offset), byte(offset>>8), byte(offset>>16), byte(offset>>24))
	}
	if length > first {
		dst = emitRepeat(dst, length-first)
	}
	return dst
}

// emitRepeat appends a copy of length bytes (at least minMatch) at the
// last offset: a copy with offset 0, its length in the tag or in up to three
// more bytes (s2's emitRepeat).
func emitRepeat(dst []byte, length int) []byte {
	for {
		switch n := length - 4; {
		case n <= 4:
			return append(dst, byte(n)<<2|tagCopy1, 0)
		case n < 1<<8+4:
			n -= 4
			return append(dst, 5<<2|tagCopy1, 0, byte(n))
		case n < 1<<16+1<<8:
			n -= 1 << 8
			return append(dst, 6<<2|tagCopy1, 0, byte(n), byte(n>>8))
		case n < 1<<24+1<<16:
			n -= 1 << 16
			return append(dst, 7<<2|tagCopy1, 0, byte(n), byte(n>>8), byte(n>>16))
		default:
			// Longer than one repeat can say: emit a chunk that leaves
			// more than minMatch bytes for the next.
			const u24 = maxRepeatChunk - 1<<16 - 4
			dst = append(dst, 7<<2|tagCopy1, 0, u24&0xff, u24>>8&0xff, u24>>16)
			length -= maxRepeatChunk
		}
	}
}
