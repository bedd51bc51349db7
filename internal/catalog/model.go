package catalog

import (
	"encoding/json"
	"strings"
)

// This file decodes an event model for rendering. encoding/json into
// map[string]any costs about 28 allocations for a typical five-field access
// model (a map, a boxed interface per value, a Decoder for UseNumber); texts
// are rendered for every row of every API page, so models are decoded here
// instead into a small tree of values that point into one copy of the input:
// a handful of allocations, and numbers kept as their literal text so
// integers of any size render exactly. json.Valid checks the syntax first,
// so the parser below only ever sees valid JSON and a malformed model is
// rejected exactly as encoding/json would reject it.

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

// value is one decoded JSON value.
type value struct {
	kind kind
	// text is the unescaped string, the number literal, or "true"/"false".
	text string
	// items are an array's elements.
	items []value
	// members are an object's members in input order.
	members []member
}

// member is one name/value pair of an object.
type member struct {
	name string
	val  value
}

// get returns the member called name. As with encoding/json, the last of
// duplicate names wins.
func (v *value) get(name string) (*value, bool) {
	for i := len(v.members) - 1; i >= 0; i-- {
		if v.members[i].name == name {
			return &v.members[i].val, true
		}
	}
	return nil, false
}

// decodeModel decodes a model. Anything that is not a valid JSON object
// (empty, null, malformed, an array, a scalar) yields an empty object, which
// renders like {}.
func decodeModel(model []byte) value {
	i := skipSpace(model, 0)
	if i >= len(model) || model[i] != '{' || !json.Valid(model) {
		return value{kind: kindObject}
	}
	p := modelParser{src: string(model), pos: i}
	return p.value()
}

// modelParser parses JSON already known to be valid.
type modelParser struct {
	src string
	pos int
}

func skipSpace[T string | []byte](s T, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func (p *modelParser) value() value {
	p.pos = skipSpace(p.src, p.pos)
	switch c := p.src[p.pos]; {
	case c == '{':
		p.pos++
		v := value{kind: kindObject}
		for {
			p.pos = skipSpace(p.src, p.pos)
			if p.src[p.pos] == '}' {
				p.pos++
				return v
			}
			if p.src[p.pos] == ',' {
				p.pos++
				p.pos = skipSpace(p.src, p.pos)
			}
			name := p.string()
			p.pos = skipSpace(p.src, p.pos) + 1 // the ':'
			if v.members == nil {
				v.members = make([]member, 0, 8)
			}
			v.members = append(v.members, member{name: name, val: p.value()})
		}
	case c == '[':
		p.pos++
		v := value{kind: kindArray}
		for {
			p.pos = skipSpace(p.src, p.pos)
			if p.src[p.pos] == ']' {
				p.pos++
				return v
			}
			if p.src[p.pos] == ',' {
				p.pos++
			}
			v.items = append(v.items, p.value())
		}
	case c == '"':
		return value{kind: kindString, text: p.string()}
	case c == 't':
		p.pos += len("true")
		return value{kind: kindBool, text: "true"}
	case c == 'f':
		p.pos += len("false")
		return value{kind: kindBool, text: "false"}
	case c == 'n':
		p.pos += len("null")
		return value{kind: kindNull}
	default:
		start := p.pos
		for p.pos < len(p.src) && strings.IndexByte("+-.0123456789eE", p.src[p.pos]) >= 0 {
			p.pos++
		}
		return value{kind: kindNumber, text: p.src[start:p.pos]}
	}
}

// string parses a string token at p.pos. Without escapes it is a substring
// of the input; with them encoding/json unescapes it.
func (p *modelParser) string() string {
	start := p.pos
	p.pos++
	escaped := false
	for {
		c := p.src[p.pos]
		if c == '\\' {
			escaped = true
			p.pos += 2
			continue
		}
		p.pos++
		if c == '"' {
			break
		}
	}
	if !escaped {
		return p.src[start+1 : p.pos-1]
	}
	var s string
	if err := json.Unmarshal([]byte(p.src[start:p.pos]), &s); err != nil {
		return "" // unreachable: the input is valid JSON
	}
	return s
}
