package catalog

import (
	"strconv"
	"strings"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// missing is what a field outside any optional section renders as when the
// model lacks it: devices send incomplete models, and a visible mark beats
// both an error and a silently wrong sentence.
const missing = "?"

// tellingFields are the object fields that stand for a whole object when a
// template renders an object, or an array of objects, as text: the first one
// present with a string or number value wins. They are the names the BAS-IP
// models use for identifiers, users and places (used_identifiers_list,
// users_list, info.destination, error ...). An object with none of them
// renders as nothing.
var tellingFields = [...]string{"name", "identifier_number", "number", "user_name", "owner_name", "short_name", "message"}

// render renders t in the language of tag with the given model.
func (t *template) render(tag language.Tag, src []byte) string {
	return string(t.appendTo(nil, tag, src, new(model)))
}

// appendTo appends t rendered in the language of tag with the model src to
// dst, decoding src into m.
func (t *template) appendTo(dst []byte, tag language.Tag, src []byte, m *model) []byte {
	if !t.hasFields {
		return append(dst, t.fixed...)
	}
	m.decode(src)
	r := renderer{b: dst, m: m, tag: tag}
	r.nodes(t.nodes)
	return r.b
}

// renderer carries what rendering one template needs.
type renderer struct {
	b   []byte
	m   *model
	tag language.Tag
}

func (r *renderer) write(s string) { r.b = append(r.b, s...) }

func (r *renderer) nodes(nodes []node) {
	for i := range nodes {
		n := &nodes[i]
		switch n.kind {
		case nodeLiteral:
			r.write(n.text)
		case nodeField:
			v := r.lookup(n.field.segs)
			if !r.m.present(v) {
				r.write(missing)
				continue
			}
			r.field(n.field, v)
		case nodeSection:
			if r.sectionPresent(n.children) {
				r.nodes(n.children)
			}
		}
	}
}

// sectionPresent reports whether every field a section references directly
// (not those of its nested sections, which decide for themselves) is
// present and not empty.
func (r *renderer) sectionPresent(children []node) bool {
	for i := range children {
		if children[i].kind == nodeField && !r.m.present(r.lookup(children[i].field.segs)) {
			return false
		}
	}
	return true
}

// lookup walks the model along a dotted path; nil when the path is not
// there.
func (r *renderer) lookup(segs []string) *value {
	cur := &r.m.root
	for _, s := range segs {
		if cur.kind != kindObject {
			return nil
		}
		var ok bool
		if cur, ok = r.m.get(cur, s); !ok {
			return nil
		}
	}
	return cur
}

// field renders a present value according to the field's mode.
func (r *renderer) field(f *field, v *value) {
	switch f.mode {
	case modeValue:
		if s, ok := scalar(v); ok {
			if term, ok := f.terms[s]; ok {
				r.write(term)
				return
			}
		}
		r.b = r.m.appendValue(r.b, v)
	case modePlural:
		s, ok := scalar(v)
		if !ok {
			r.b = r.m.appendValue(r.b, v)
			return
		}
		if !isDecimal(s) {
			// Not a number: the "other" form still reads best.
			r.b = appendForm(r.b, f.forms[plural.Other], s)
			return
		}
		parts := f.forms[pluralForm(r.tag, s)]
		if parts == nil {
			parts = f.forms[plural.Other]
		}
		r.b = appendForm(r.b, parts, s)
	default:
		r.b = r.m.appendValue(r.b, v)
	}
}

func appendForm(b []byte, parts []string, num string) []byte {
	for i, p := range parts {
		if i > 0 {
			b = append(b, num...)
		}
		b = append(b, p...)
	}
	return b
}

// present reports whether v renders as non-empty text: not missing, not
// null, not an empty string, not an array or object with nothing telling in
// it.
func (m *model) present(v *value) bool {
	if v == nil {
		return false
	}
	switch v.kind {
	case kindString:
		return v.text != ""
	case kindNumber, kindBool:
		return true
	case kindArray:
		items := m.children(v)
		for i := range items {
			if m.present(&items[i]) {
				return true
			}
		}
	case kindObject:
		return m.telling(v) != nil
	}
	return false
}

// telling returns the telling member of an object (see tellingFields), or
// nil.
func (m *model) telling(v *value) *value {
	for _, name := range tellingFields {
		if t, ok := m.get(v, name); ok && (t.kind == kindString && t.text != "" || t.kind == kindNumber) {
			return t
		}
	}
	return nil
}

// scalar returns the text of a string, number or boolean.
func scalar(v *value) (string, bool) {
	switch v.kind {
	case kindString, kindBool:
		return v.text, true
	case kindNumber:
		return number(v.text), true
	}
	return "", false
}

// appendValue appends a present value as text: scalars as themselves, an
// array as its present elements joined by ", ", an object as its telling
// member.
func (m *model) appendValue(b []byte, v *value) []byte {
	switch v.kind {
	case kindArray:
		first := true
		items := m.children(v)
		for i := range items {
			e := &items[i]
			if !m.present(e) {
				continue
			}
			if !first {
				b = append(b, ", "...)
			}
			first = false
			b = m.appendValue(b, e)
		}
	case kindObject:
		if t := m.telling(v); t != nil {
			b = m.appendValue(b, t)
		}
	default:
		s, _ := scalar(v)
		b = append(b, s...)
	}
	return b
}

// number renders a JSON number without an exponent: an integer literal as
// written (exact at any size), anything else as the shortest decimal that
// reads back as the same float64 (12345.0 → 12345, 1.2345e+04 → 12345).
func number(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// isDecimal reports whether s is a plain decimal number ("-12", "1.50"). A
// JSON number has already been rendered without an exponent by number, and a
// number that comes as a string (devices send "5") pluralizes like the
// number.
func isDecimal(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	intPart, frac, dot := strings.Cut(s, ".")
	return allDigits(intPart) && (!dot || allDigits(frac))
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pluralForm returns the CLDR cardinal plural form of the decimal number s
// in the language of tag. The plural rules look at the integer part modulo
// 10,000,000 (enough for every rule: they use at most i % 1000000), the
// number of visible fraction digits and their value.
func pluralForm(tag language.Tag, s string) plural.Form {
	if s[0] == '-' {
		s = s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	i := 0
	for j := range len(intPart) {
		i = (i*10 + int(intPart[j]-'0')) % 10000000
	}
	f, t := 0, 0
	for j := range len(frac) {
		if j < 7 {
			f = f*10 + int(frac[j]-'0')
		}
	}
	fracTrim := strings.TrimRight(frac, "0")
	for j := range len(fracTrim) {
		if j < 7 {
			t = t*10 + int(fracTrim[j]-'0')
		}
	}
	return plural.Cardinal.MatchPlural(tag, i, len(frac), len(fracTrim), f, t)
}
