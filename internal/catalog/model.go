package catalog

import (
	"encoding/json"
)

// This file decodes an event model for rendering. Texts are rendered for
// every row of every API page and every line of an export, so the decoder
// is built for that: one pass both checks the syntax (exactly as json.Valid
// does, so a malformed model is rejected exactly as encoding/json would
// reject it) and builds a small tree of values whose strings point into one
// copy of the input. The tree lives in the slices of a reusable model, so
// that a render in the steady state allocates only that copy. Numbers are
// kept as their literal text, so integers of any size render exactly.

// kind is the JSON type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindString
	kindNumber
	kindBool
	kindArray
	kindObject
)

// value is one decoded JSON value. The elements of an array, or the members
// of an object, are the values m.vals[first : first+n] of the model m that
// holds it; each member has its name in name.
type value struct {
	kind kind
	// text is the unescaped string, the number literal, or "true"/"false".
	text string
	// name is the member's name, when the value is an object's member.
	name string
	// first and n place the children in the model's vals.
	first, n int32
}

// maxDepth is the deepest nesting json.Valid accepts.
const maxDepth = 10000

// model is a decoded model: its root and the children of every array and
// object in it. A model is reused from render to render (see
// Catalog.models), which is why the children live in one slice rather than
// in a slice per value.
type model struct {
	root value
	vals []value
	// stack collects the children of the arrays and objects being parsed,
	// which are then moved to vals in one piece.
	stack []value
	src   string
	pos   int
	depth int
}

// children returns the elements or members of v, a value of m.
func (m *model) children(v *value) []value {
	return m.vals[v.first : v.first+v.n]
}

// get returns the member of the object v called name. As with encoding/json,
// the last of duplicate names wins.
func (m *model) get(v *value, name string) (*value, bool) {
	members := m.children(v)
	for i := len(members) - 1; i >= 0; i-- {
		if members[i].name == name {
			return &members[i], true
		}
	}
	return nil, false
}

// decode decodes src into m, replacing what m held. Anything that is not a
// valid JSON object (empty, null, malformed, an array, a scalar) yields an
// empty object, which renders like {}.
func (m *model) decode(src []byte) {
	m.root = value{kind: kindObject}
	m.vals = m.vals[:0]
	m.stack = m.stack[:0]
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return
	}
	m.src, m.pos, m.depth = string(src), i, 0
	root, ok := m.value()
	if ok && skipSpace(m.src, m.pos) == len(m.src) {
		m.root = root
	} else {
		m.vals = m.vals[:0]
	}
	m.stack = m.stack[:0]
}

func skipSpace[T string | []byte](s T, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// value parses the value at m.pos, after any space; ok is false at the
// first byte json.Valid would refuse.
func (m *model) value() (v value, ok bool) {
	m.pos = skipSpace(m.src, m.pos)
	if m.pos >= len(m.src) {
		return v, false
	}
	switch c := m.src[m.pos]; {
	case c == '{':
		return m.object()
	case c == '[':
		return m.array()
	case c == '"':
		s, ok := m.string()
		return value{kind: kindString, text: s}, ok
	case c == 't':
		return value{kind: kindBool, text: "true"}, m.literal("true")
	case c == 'f':
		return value{kind: kindBool, text: "false"}, m.literal("false")
	case c == 'n':
		return value{kind: kindNull}, m.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := m.pos
		if !m.number() {
			return v, false
		}
		return value{kind: kindNumber, text: m.src[start:m.pos]}, true
	}
	return v, false
}

// enter counts one more level of nesting, and reports whether it is within
// json.Valid's limit; closing a level takes it back.
func (m *model) enter() bool {
	m.depth++
	return m.depth <= maxDepth
}

// collect moves the children stacked from base on to vals and returns
// their place there.
func (m *model) collect(base int) (first, n int32) {
	first = int32(len(m.vals))
	m.vals = append(m.vals, m.stack[base:]...)
	n = int32(len(m.stack) - base)
	m.stack = m.stack[:base]
	return first, n
}

func (m *model) object() (value, bool) {
	m.pos++ // the '{'
	if !m.enter() {
		return value{}, false
	}
	base := len(m.stack)
	m.pos = skipSpace(m.src, m.pos)
	if m.pos < len(m.src) && m.src[m.pos] == '}' {
		m.pos++
		m.depth--
		return value{kind: kindObject}, true
	}
	for {
		m.pos = skipSpace(m.src, m.pos)
		if m.pos >= len(m.src) || m.src[m.pos] != '"' {
			return value{}, false
		}
		name, ok := m.string()
		if !ok {
			return value{}, false
		}
		m.pos = skipSpace(m.src, m.pos)
		if m.pos >= len(m.src) || m.src[m.pos] != ':' {
			return value{}, false
		}
		m.pos++
		v, ok := m.value()
		if !ok {
			return value{}, false
		}
		v.name = name
		m.stack = append(m.stack, v)
		m.pos = skipSpace(m.src, m.pos)
		if m.pos >= len(m.src) {
			return value{}, false
		}
		switch m.src[m.pos] {
		case ',':
			m.pos++
		case '}':
			m.pos++
			m.depth--
			first, n := m.collect(base)
			return value{kind: kindObject, first: first, n: n}, true
		default:
			return value{}, false
		}
	}
}

func (m *model) array() (value, bool) {
	m.pos++ // the '['
	if !m.enter() {
		return value{}, false
	}
	base := len(m.stack)
	m.pos = skipSpace(m.src, m.pos)
	if m.pos < len(m.src) && m.src[m.pos] == ']' {
		m.pos++
		m.depth--
		return value{kind: kindArray}, true
	}
	for {
		v, ok := m.value()
		if !ok {
			return value{}, false
		}
		m.stack = append(m.stack, v)
		m.pos = skipSpace(m.src, m.pos)
		if m.pos >= len(m.src) {
			return value{}, false
		}
		switch m.src[m.pos] {
		case ',':
			m.pos++
		case ']':
			m.pos++
			m.depth--
			first, n := m.collect(base)
			return value{kind: kindArray, first: first, n: n}, true
		default:
			return value{}, false
		}
	}
}

// literal consumes word, which must be there.
func (m *model) literal(word string) bool {
	if len(m.src)-m.pos < len(word) || m.src[m.pos:m.pos+len(word)] != word {
		return false
	}
	m.pos += len(word)
	return true
}

// number consumes a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (m *model) number() bool {
	s, i := m.src, m.pos
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	m.pos = i
	return true
}

func digits[T string | []byte](s T, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// string parses a string token at m.pos. Without escapes it is a substring
// of the input; with them encoding/json unescapes it. Like json.Valid it
// takes any byte from 0x20 up, valid UTF-8 or not.
func (m *model) string() (string, bool) {
	s := m.src
	start := m.pos
	i := start + 1
	escaped := false
	for {
		if i >= len(s) {
			return "", false
		}
		c := s[i]
		switch {
		case c == '"':
			m.pos = i + 1
			if !escaped {
				return s[start+1 : i], true
			}
			var out string
			if err := json.Unmarshal([]byte(s[start:m.pos]), &out); err != nil {
				return "", false // unreachable: the token is valid
			}
			return out, true
		case c == '\\':
			escaped = true
			if i+1 >= len(s) {
				return "", false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(s)-i < 6 || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) || !isHex(s[i+5]) {
					return "", false
				}
				i += 6
			default:
				return "", false
			}
		case c < 0x20:
			return "", false
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
