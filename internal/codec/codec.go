// Package codec compresses event models for the store's model BLOB column.
//
// A model is a small JSON object (typically 10 to 250 bytes), and the disk
// target is 150 bytes per event for the whole row and its indexes, so the
// model has to shrink; but general-purpose compression gains nothing on a
// hundred bytes, because each row would have to carry everything it learns
// about JSON, field names and the catalog's values. A dictionary of
// realistic models, embedded in the binary, lets a row refer to what every
// row has in common and store only what is its own (a card number, a flat).
//
// The stored form of a model is either the model itself (a JSON object, so
// it starts with '{' after optional whitespace: rows written before this
// package existed, and models that compression would not make smaller), or
// a format tag that can never start a JSON text followed by the compressed
// bytes:
//
//	0x01  an S2 block (github.com/klauspost/compress/s2) with dictionary
//	      version 1 (dict_v1.bin): the uvarint model length, then literals
//	      and copies, which may reach back into the dictionary.
//
// S2 rather than zstd: klauspost/compress/zstd with a dictionary built from
// the same models stores the simulator's models in 23 bytes on average against
// S2's 17 (a zstd frame and its entropy headers weigh a lot next to 50
// bytes), and its encoder restores its dictionary tables and builds entropy
// tables on every call, 1.3 to 2 µs per model, which ingest at 150,000
// events/s on two cores cannot afford. The S2 encoder in internal/s2dict
// searches an index of the dictionary that is built once and never written
// to, so an Encode costs some 250 ns and a Decode 50 ns, and the format is
// plain S2, decoded by s2 itself. The parse the encoder chooses may change
// freely; what a tag means may not.
//
// A dictionary never changes once rows have been written with it: the bytes
// of dict_v1.bin are part of the stored format, and TestDictionaryPinned
// fails if they change. A better dictionary gets a new file and a new tag;
// Decode keeps every old one.
package codec

import (
	_ "embed" // the dictionaries
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"

	"github.com/doorlog/doorlog/internal/codec/internal/s2dict"
)

// Format tags: the first byte of a compressed model. None of them may be
// '{' or JSON whitespace, so a stored model that starts with a JSON object
// is always one stored as is.
const (
	// tagS2V1 marks an S2 block compressed with dictV1.
	tagS2V1 = 0x01
)

// dictV1 is dictionary version 1 in the serialized s2 dictionary format (a
// uvarint repeat index, then the content), a string so that nothing can
// modify it. NEVER CHANGE THE FILE: every row
// compressed with tag 0x01 needs exactly these bytes to be read back. Its
// SHA-256 is pinned by TestDictionaryPinned; a new dictionary is a new file
// with a new tag. Build a candidate for that with
//
//	go run ./internal/codec/gendict -o internal/codec/dict_v2.bin
//
//go:embed dict_v1.bin
var dictV1 string

// maxModelLen is the largest model Encode compresses and Decode expands
// (larger JSON objects are stored as is). It bounds the memory a corrupt
// stored length can make Decode allocate; real models are a few hundred
// bytes.
const maxModelLen = 16 << 20

// Codec turns models into their stored form and back. It holds only
// read-only state after New, so one Codec is safe for concurrent use by
// any number of goroutines. Encode and Decode allocate nothing when dst has
// room (Encode does for models over 2 KiB).
type Codec struct {
	enc  *s2dict.Encoder
	dict *s2.Dict
}

// New returns a Codec with the embedded dictionaries. It indexes them,
// which takes some microseconds and 80 KiB: make one Codec and share it.
func New() (*Codec, error) {
	v1 := []byte(dictV1)
	enc, err := s2dict.NewEncoder(v1)
	if err != nil {
		return nil, fmt.Errorf("codec: dictionary v1: %w", err)
	}
	d := s2.NewDict(v1)
	if d == nil {
		return nil, errors.New("codec: dictionary v1 is not an s2 dictionary")
	}
	return &Codec{enc: enc, dict: d}, nil
}

// Encode appends the stored form of model (a JSON object as bytes) to dst
// and returns it. The model is stored as is when compression would not make
// it smaller, so a stored model is never bigger than the model. Anything
// that is not a JSON object (starting with '{' after optional whitespace)
// is always compressed, so that Decode can tell it from a model stored as
// is: every input of up to 16 MiB round-trips.
func (c *Codec) Encode(dst, model []byte) []byte {
	object := isObject(model)
	if len(model) > maxModelLen && object {
		return append(dst, model...)
	}
	start := len(dst)
	dst = append(dst, tagS2V1)
	dst = c.enc.Encode(dst, model)
	if len(dst)-start >= len(model) && object {
		return append(dst[:start], model...)
	}
	return dst
}

// Decode appends the JSON model that src stores to dst. A src that starts
// with '{' (after optional JSON whitespace) is a model stored uncompressed
// (rows written before this codec existed, or a model Encode chose not to
// compress because compression would not make it smaller) and is returned
// as is. On error Decode returns dst unchanged and an error naming what is
// wrong with src; it never panics, whatever src holds.
func (c *Codec) Decode(dst, src []byte) ([]byte, error) {
	if isObject(src) {
		return append(dst, src...), nil
	}
	if len(src) == 0 {
		return dst, errors.New("codec: empty stored model")
	}
	switch src[0] {
	case tagS2V1:
		n, err := s2.DecodedLen(src[1:])
		if err != nil {
			return dst, fmt.Errorf("codec: stored model: %w", err)
		}
		if n > maxModelLen {
			return dst, fmt.Errorf("codec: stored model claims %d bytes, more than the %d a model may have", n, maxModelLen)
		}
		out := slices.Grow(dst, n)
		if _, err := c.dict.Decode(out[len(out):len(out)+n], src[1:]); err != nil {
			return dst, fmt.Errorf("codec: stored model: %w", err)
		}
		return out[:len(out)+n], nil
	default:
		return dst, fmt.Errorf("codec: stored model has unknown format tag %#02x", src[0])
	}
}

// isObject reports whether b starts with '{' after optional JSON
// whitespace, as every model stored as is does and no compressed one can.
func isObject(b []byte) bool {
	for _, ch := range b {
		switch ch {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}
