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
func (t *template) render(tag language.Tag, model []byte) string {
	r := renderer{tag: tag}
	if t.hasFields {
		r.model = decodeModel(model)
	}
	r.b.Grow(t.size + 32)
	r.nodes(t.nodes)
	return r.b.String()
}

// renderer carries what rendering one template needs.
type renderer struct {
	b     strings.Builder
	model value
	tag   language.Tag
}

func (r *renderer) nodes(nodes []node) {
	for i := range nodes {
		n := &nodes[i]
		switch n.kind {
		case nodeLiteral:
			r.b.WriteString(n.text)
		case nodeField:
			v := r.lookup(n.field.segs)
			if !present(v) {
				r.b.WriteString(missing)
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
		if children[i].kind == nodeField && !present(r.lookup(children[i].field.segs)) {
			return false
		}
	}
	return true
}

// lookup walks the model along a dotted path; nil when the path is not
// there.
func (r *renderer) lookup(segs []string) *value {
	cur := &r.model
	for _, s := range segs {
		if cur.kind != kindObject {
			return nil
		}
		var ok bool
		if cur, ok = cur.get(s); !ok {
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
				r.b.WriteString(term)
				return
			}
		}
		writeValue(&r.b, v)
	case modePlural:
		s, ok := scalar(v)
		if !ok {
			writeValue(&r.b, v)
			return
		}
		if !isDecimal(s) {
			// Not a number: the "other" form still reads best.
			writeForm(&r.b, f.forms[plural.Other], s)
			return
		}
		parts := f.forms[pluralForm(r.tag, s)]
		if parts == nil {
			parts = f.forms[plural.Other]
		}
		writeForm(&r.b, parts, s)
	default:
		writeValue(&r.b, v)
	}
}

func writeForm(b *strings.Builder, parts []string, num string) {
	for i, p := range parts {
		if i > 0 {
			b.WriteString(num)
		}
		b.WriteString(p)
	}
}

// present reports whether v renders as non-empty text: not missing, not
// null, not an empty string, not an array or object with nothing telling in
// it.
func present(v *value) bool {
	if v == nil {
		return false
	}
	switch v.kind {
	case kindString:
		return v.text != ""
	case kindNumber, kindBool:
		return true
	case kindArray:
		for i := range v.items {
			if present(&v.items[i]) {
				return true
			}
		}
	case kindObject:
		return telling(v) != nil
	}
	return false
}

// telling returns the telling member of an object (see tellingFields), or
// nil.
func telling(v *value) *value {
	for _, name := range tellingFields {
		if m, ok := v.get(name); ok && (m.kind == kindString && m.text != "" || m.kind == kindNumber) {
			return m
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

// writeValue writes a present value as text: scalars as themselves, an
// array as its present elements joined by ", ", an object as its telling
// member.
func writeValue(b *strings.Builder, v *value) {
	switch v.kind {
	case kindArray:
		first := true
		for i := range v.items {
			e := &v.items[i]
			if !present(e) {
				continue
			}
			if !first {
				b.WriteString(", ")
			}
			first = false
			writeValue(b, e)
		}
	case kindObject:
		if t := telling(v); t != nil {
			writeValue(b, t)
		}
	default:
		s, _ := scalar(v)
		b.WriteString(s)
	}
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
