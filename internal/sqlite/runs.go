package sqlite

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// dayMS is the length of a device run's day, and of the rollup's day.
const dayMS = 86_400_000

// floorDiv is integer division rounding down, so that times before 1970
// fall in the day they are in.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// runEntry is one event in a device run: where it is in the time order
// (the events table's primary key, and the seq of its body) and its kind, which is all a device listing needs to
// filter, count and seek before it reads the rows of one page.
type runEntry struct {
	timeMS int64
	seq    int64
	kind   int64
}

// less orders entries the way events are listed: by (time, seq).
func (a runEntry) less(b runEntry) bool {
	return a.timeMS < b.timeMS || (a.timeMS == b.timeMS && a.seq < b.seq)
}

func compareEntries(a, b runEntry) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// encodeRun writes entries, which it sorts, as a device run: a count, then
// per entry the time as a delta from the previous one (the first as a
// signed value), the seq as a signed delta and the kind. A run of a batch
// of a device's events is a few bytes per event.
func encodeRun(dst []byte, entries []runEntry) []byte {
	slices.SortFunc(entries, compareEntries)
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	var prevT, prevS int64
	for i, e := range entries {
		if i == 0 {
			dst = binary.AppendVarint(dst, e.timeMS)
			dst = binary.AppendVarint(dst, e.seq)
		} else {
			dst = binary.AppendUvarint(dst, uint64(e.timeMS-prevT))
			dst = binary.AppendVarint(dst, e.seq-prevS)
		}
		dst = binary.AppendUvarint(dst, uint64(e.kind))
		prevT, prevS = e.timeMS, e.seq
	}
	return dst
}

var errBadRun = errors.New("corrupt device run")

// decodeRun appends the entries of a run to dst, in (time, seq) order.
func decodeRun(dst []runEntry, b []byte) ([]runEntry, error) {
	return decodeRunTo(dst, b, math.MaxInt64)
}

// decodeRunTo is decodeRun that stops at the first entry after time to: a
// caller counting a part of a day need not decode the rest of each run.
func decodeRunTo(dst []runEntry, b []byte, to int64) ([]runEntry, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return dst, errBadRun
	}
	b = b[k:]
	var prevT, prevS int64
	for i := uint64(0); i < n; i++ {
		var e runEntry
		if i == 0 {
			t, k1 := binary.Varint(b)
			if k1 <= 0 {
				return dst, errBadRun
			}
			s, k2 := binary.Varint(b[k1:])
			if k2 <= 0 {
				return dst, errBadRun
			}
			e.timeMS, e.seq = t, s
			b = b[k1+k2:]
		} else {
			dt, k1 := binary.Uvarint(b)
			if k1 <= 0 {
				return dst, errBadRun
			}
			ds, k2 := binary.Varint(b[k1:])
			if k2 <= 0 {
				return dst, errBadRun
			}
			e.timeMS, e.seq = prevT+int64(dt), prevS+ds
			b = b[k1+k2:]
		}
		kind, k3 := binary.Uvarint(b)
		if k3 <= 0 {
			return dst, errBadRun
		}
		e.kind = int64(kind)
		b = b[k3:]
		if e.timeMS > to {
			return dst, nil
		}
		dst = append(dst, e)
		prevT, prevS = e.timeMS, e.seq
	}
	if len(b) != 0 {
		return dst, errBadRun
	}
	return dst, nil
}
