package ingest

import (
	"encoding/json"
	"unicode/utf8"
)

// decoder reads the items of one request. Most senders write every item
// the same plain way: the five known keys in lower case, each once, strings
// without escapes, a compact model. decoder reads that shape in one pass
// without reflection and without copying the model twice; anything else
// (an escape, an unknown or repeated key, a null, whitespace inside the
// model, bad JSON) makes it give up on the item, which is then decoded by
// json.Unmarshal exactly as before, error messages included. So the fast
// path only ever accepts items that json.Unmarshal reads the same way.
type decoder struct {
	// strings interns device ids and keys, which repeat across a batch.
	strings map[string]string
	// arena holds the models and times of the request, copied out of the
	// body's read buffer: in one allocation of the body's size when that is
	// known, else in blocks, instead of one allocation each.
	arena []byte
}

func newDecoder(bodyLen int) *decoder {
	return &decoder{strings: map[string]string{}, arena: make([]byte, 0, bodyLen)}
}

// decode fills it from the JSON object raw and reports whether it could;
// on false, it may be partly filled and must be decoded again the slow way.
// compact reports that the model is already in compact form.
func (d *decoder) decode(raw []byte, it *Item) (compact, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false, false
	}
	i = skipSpace(raw, i+1)
	var seen [5]bool
	if i < len(raw) && raw[i] == '}' {
		return true, skipSpace(raw, i+1) == len(raw)
	}
	compact = true
	for {
		if i >= len(raw) || raw[i] != '"' {
			return false, false
		}
		kEnd, plain := stringEnd(raw, i)
		if kEnd < 0 || !plain {
			return false, false
		}
		field := fieldIndex(raw[i+1 : kEnd-1])
		if field < 0 || seen[field] {
			return false, false
		}
		seen[field] = true
		i = skipSpace(raw, kEnd)
		if i >= len(raw) || raw[i] != ':' {
			return false, false
		}
		i = skipSpace(raw, i+1)
		if i >= len(raw) {
			return false, false
		}
		switch field {
		case fieldDeviceID, fieldKey, fieldSourceID:
			if raw[i] != '"' {
				return false, false
			}
			end, plain := stringEnd(raw, i)
			if end < 0 || !plain {
				return false, false
			}
			v := raw[i+1 : end-1]
			if !utf8.Valid(v) {
				// json.Unmarshal would replace the bad bytes.
				return false, false
			}
			switch field {
			case fieldDeviceID:
				it.DeviceID = d.intern(v)
			case fieldKey:
				it.Key = d.intern(v)
			default:
				it.SourceID = string(v)
			}
			i = end
		case fieldTime:
			end, spaced := valueEnd(raw, i)
			if end < 0 || spaced {
				return false, false
			}
			// raw is the reader's buffer, reused for the next item.
			it.Time = d.keep(raw[i:end])
			i = end
		case fieldModel:
			end, spaced := valueEnd(raw, i)
			if end < 0 {
				return false, false
			}
			compact = !spaced
			it.Model = d.keep(raw[i:end])
			i = end
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return false, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return compact, skipSpace(raw, i+1) == len(raw)
		default:
			return false, false
		}
	}
}

// arenaBlock is the size of a new arena block when the body's length was
// not known or the arena is full: blocks are added, never grown, so that
// what earlier items point to is neither copied nor held twice.
const arenaBlock = 64 << 10

// keep returns a copy of b in the arena.
func (d *decoder) keep(b []byte) json.RawMessage {
	if cap(d.arena)-len(d.arena) < len(b) {
		d.arena = make([]byte, 0, max(arenaBlock, len(b)))
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return json.RawMessage(d.arena[start:len(d.arena):len(d.arena)])
}

// intern returns b as a string, the same string each time for the same
// bytes.
func (d *decoder) intern(b []byte) string {
	if s, ok := d.strings[string(b)]; ok {
		return s
	}
	s := string(b)
	d.strings[s] = s
	return s
}

const (
	fieldDeviceID = iota
	fieldTime
	fieldKey
	fieldModel
	fieldSourceID
)

// fieldIndex returns which field of Item the key name is, or -1. Only the
// exact names count: json.Unmarshal also matches other spellings (case
// folded), and those take the slow path.
func fieldIndex(name []byte) int {
	switch string(name) {
	case "device_id":
		return fieldDeviceID
	case "time":
		return fieldTime
	case "key":
		return fieldKey
	case "model":
		return fieldModel
	case "source_id":
		return fieldSourceID
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i]
// (a quote), or -1 when it is not a valid JSON string. plain reports that
// it has no escapes, so its bytes between the quotes are its value (less
// json.Unmarshal's replacement of invalid UTF-8).
func stringEnd(b []byte, i int) (end int, plain bool) {
	plain = true
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c < 0x20:
			return -1, false
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// maxDepth bounds the nesting valueEnd follows; deeper values take the slow
// path (encoding/json allows 10,000 levels).
const maxDepth = 64

// valueEnd returns the index just past the JSON value starting at b[i], or
// -1 when there is none or it is nested deeper than maxDepth. spaced
// reports whitespace between the value's tokens, which json.Compact would
// remove. It accepts exactly the JSON grammar, as encoding/json does.
func valueEnd(b []byte, i int) (end int, spaced bool) {
	// stack holds, per open container, whether it is an object.
	var stack [maxDepth]bool
	depth := 0
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return -1, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return -1, false
			}
			stack[depth] = c == '{'
			depth++
			j := skipSpace(b, i+1)
			spaced = spaced || j != i+1
			closer := byte(']')
			if c == '{' {
				closer = '}'
			}
			if j < len(b) && b[j] == closer {
				depth--
				i = j + 1
				break
			}
			i = j
			if c == '{' {
				if i = objectKey(b, i, &spaced); i < 0 {
					return -1, false
				}
			}
			continue
		case c == '"':
			if i, _ = stringEnd(b, i); i < 0 {
				return -1, false
			}
		case c == '-' || isDigit(c):
			if i = numberEnd(b, i); i < 0 {
				return -1, false
			}
		case c == 't':
			if i = literalEnd(b, i, "true"); i < 0 {
				return -1, false
			}
		case c == 'f':
			if i = literalEnd(b, i, "false"); i < 0 {
				return -1, false
			}
		case c == 'n':
			if i = literalEnd(b, i, "null"); i < 0 {
				return -1, false
			}
		default:
			return -1, false
		}
		// A value ended at b[i]; close containers or go on to the next
		// element.
		for {
			if depth == 0 {
				return i, spaced
			}
			j := skipSpace(b, i)
			spaced = spaced || j != i
			if j >= len(b) {
				return -1, false
			}
			object := stack[depth-1]
			switch {
			case b[j] == ',':
				k := skipSpace(b, j+1)
				spaced = spaced || k != j+1
				i = k
				if object {
					if i = objectKey(b, i, &spaced); i < 0 {
						return -1, false
					}
				}
			case object && b[j] == '}' || !object && b[j] == ']':
				depth--
				i = j + 1
				continue
			default:
				return -1, false
			}
			break
		}
	}
}

// objectKey reads `"key" :` at b[i] and returns the index of the value that
// follows, or -1.
func objectKey(b []byte, i int, spaced *bool) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	end, _ := stringEnd(b, i)
	if end < 0 {
		return -1
	}
	j := skipSpace(b, end)
	if j >= len(b) || b[j] != ':' {
		return -1
	}
	k := skipSpace(b, j+1)
	*spaced = *spaced || j != end || k != j+1
	return k
}

// numberEnd returns the index just past the JSON number at b[i], or -1.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

func literalEnd(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
