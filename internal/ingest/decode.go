package ingest

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/doorlog/doorlog/internal/cleanjson"
)

// decoder reads the items of one request. Most senders write every item
// the same plain way: the five known keys in lower case, each once, strings
// without escapes, a compact model. decoder reads that shape in one pass
// without reflection and without copying the model twice; anything else
// (an escape, an unknown or repeated key, a null, a model nested deeper
// than a model may be, bad JSON) makes it give up on the item, which is
// then decoded by json.Unmarshal exactly as before, error messages
// included. So the fast path only ever accepts items that json.Unmarshal
// reads the same way. A model it reads but cannot vouch for (whitespace
// inside it, bytes cleanjson.Repair would change) is handed to
// Service.model as not compact, which then does to it what it does on the
// slow path.
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
		kEnd, plain, _ := stringEnd(raw, i)
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
			end, plain, ascii := stringEnd(raw, i)
			if end < 0 || !plain {
				return false, false
			}
			v := raw[i+1 : end-1]
			if !ascii && !utf8.Valid(v) {
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
			end, spaced, _ := valueEnd(raw, i)
			if end < 0 || spaced {
				return false, false
			}
			// raw is the reader's buffer, reused for the next item.
			it.Time = d.keep(raw[i:end])
			i = end
		case fieldModel:
			end, spaced, clean := valueEnd(raw, i)
			if end < 0 {
				return false, false
			}
			// A model with text to repair is not taken as it is:
			// Service.model repairs it as it does on the slow path.
			compact = !spaced && clean
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

// arenaBlock is the size of a new arena block when the arena is full:
// blocks are added, never grown, so that what earlier items point to is
// neither copied nor held twice. firstArena is the most the first block
// takes from a body's announced length, before any of it has arrived.
const (
	arenaBlock = 64 << 10
	firstArena = 256 << 10
)

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
// json.Unmarshal's replacement of invalid UTF-8), and ascii that it has no
// byte from 0x80 up, so that it is valid UTF-8 without a look.
func stringEnd(b []byte, i int) (end int, plain, ascii bool) {
	plain, ascii = true, true
	for i++; i < len(b); i++ {
		c := b[i]
		// Printable ASCII but the quote and the backslash, nearly every
		// byte, in as many comparisons as before ascii was reported.
		if c-0x20 < 0x60 && c != '"' && c != '\\' {
			continue
		}
		switch {
		case c == '"':
			return i + 1, plain, ascii
		case c >= 0x80:
			ascii = false
		case c < 0x20:
			return -1, false, false
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return -1, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, false, false
					}
				}
				i += 4
			default:
				return -1, false, false
			}
		}
	}
	return -1, false, false
}

// textEnd is stringEnd for a string of a model (a name or a value): it
// sets *dirty when the string holds text cleanjson.Repair would change. A
// string of plain ASCII, nearly every one, costs no second look.
func textEnd(b []byte, i int, dirty *bool) int {
	end, plain, ascii := stringEnd(b, i)
	if end > 0 && !(plain && ascii) && !*dirty && !cleanjson.IsClean(b[i:end]) {
		*dirty = true
	}
	return end
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// maxDepth bounds the nesting valueEnd follows. It is the depth a model may
// have: a deeper one takes the slow path, where Service.model refuses it
// with its message (encoding/json alone would allow 10,000 levels).
const maxDepth = cleanjson.MaxDepth

// valueEnd returns the index just past the JSON value starting at b[i], or
// -1 when there is none or it is nested deeper than maxDepth. spaced
// reports whitespace between the value's tokens, which json.Compact would
// remove, and clean that its strings hold nothing cleanjson.Repair would
// change. It accepts exactly the JSON grammar, as encoding/json does.
func valueEnd(b []byte, i int) (end int, spaced, clean bool) {
	// stack holds, per open container, whether it is an object.
	var stack [maxDepth]bool
	depth := 0
	dirty := false
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return -1, false, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return -1, false, false
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
				if i = objectKey(b, i, &spaced, &dirty); i < 0 {
					return -1, false, false
				}
			}
			continue
		case c == '"':
			if i = textEnd(b, i, &dirty); i < 0 {
				return -1, false, false
			}
		case c == '-' || isDigit(c):
			start := i
			if i = numberEnd(b, i); i < 0 {
				return -1, false, false
			}
			// A number that may be beyond a 64-bit float is checked by
			// Service.model, as on the slow path.
			dirty = dirty || cleanjson.MayOverflow(b[start:i])
		case c == 't':
			if i = literalEnd(b, i, "true"); i < 0 {
				return -1, false, false
			}
		case c == 'f':
			if i = literalEnd(b, i, "false"); i < 0 {
				return -1, false, false
			}
		case c == 'n':
			if i = literalEnd(b, i, "null"); i < 0 {
				return -1, false, false
			}
		default:
			return -1, false, false
		}
		// A value ended at b[i]; close containers or go on to the next
		// element.
		for {
			if depth == 0 {
				return i, spaced, !dirty
			}
			j := skipSpace(b, i)
			spaced = spaced || j != i
			if j >= len(b) {
				return -1, false, false
			}
			object := stack[depth-1]
			switch {
			case b[j] == ',':
				k := skipSpace(b, j+1)
				spaced = spaced || k != j+1
				i = k
				if object {
					if i = objectKey(b, i, &spaced, &dirty); i < 0 {
						return -1, false, false
					}
				}
			case object && b[j] == '}' || !object && b[j] == ']':
				depth--
				i = j + 1
				continue
			default:
				return -1, false, false
			}
			break
		}
	}
}

// objectKey reads `"key" :` at b[i] and returns the index of the value that
// follows, or -1; it notes spacing and text to repair as valueEnd does.
func objectKey(b []byte, i int, spaced, dirty *bool) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	end := textEnd(b, i, dirty)
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
