package catalog

import (
	"fmt"
	"strings"

	"golang.org/x/text/feature/plural"
)

// This file holds the small template language of the locale files: the
// parser, which turns a template into a tree of nodes once at New, and the
// checks made on that tree. Rendering is in render.go.
//
// The syntax, in full:
//
//	{path}                  the model value at a dotted path
//	{path:value}            the locale's term "<last segment>.<value>", else the raw value
//	{path:plural:one=# x|other=# xs}
//	                        the CLDR cardinal plural form of the number, # replaced by it
//	[ ... ]                 an optional section: rendered only when every field
//	                        it references directly is present and not empty
//	\{ \} \[ \] \| \# \\    literal characters
//
// Plural forms are zero, one, two, few, many and other; other is required.

// nodeKind tells what a node is.
type nodeKind uint8

const (
	nodeLiteral nodeKind = iota
	nodeField
	nodeSection
)

// fieldMode tells how a field node renders its value.
type fieldMode uint8

const (
	modePlain fieldMode = iota
	modeValue
	modePlural
)

// node is one piece of a compiled template.
type node struct {
	kind nodeKind
	// text is the literal text of a nodeLiteral.
	text string
	// field is set for a nodeField.
	field *field
	// children are the nodes of a nodeSection.
	children []node
}

// field is a reference to a model value.
type field struct {
	// path is the dotted path as written, for checks and error messages.
	path string
	// segs is path split at the dots, so rendering does not split it again.
	segs []string
	mode fieldMode
	// terms maps a raw value to the locale's term for a modeValue field;
	// filled in per locale by New, so rendering makes no string for the
	// lookup key.
	terms map[string]string
	// forms holds the plural forms of a modePlural field, indexed by
	// plural.Form; each form is its text split at '#'. A nil form falls back
	// to plural.Other, which is always set.
	forms [numForms][]string
}

// numForms is the number of plural.Form values (Other, Zero, One, Two, Few,
// Many).
const numForms = 6

// formNames maps the category names a template may use to plural.Form.
var formNames = map[string]plural.Form{
	"other": plural.Other,
	"zero":  plural.Zero,
	"one":   plural.One,
	"two":   plural.Two,
	"few":   plural.Few,
	"many":  plural.Many,
}

// template is a parsed text template.
type template struct {
	nodes []node
	// hasFields is false for a template that references no field, so
	// rendering it skips decoding the model.
	hasFields bool
	// fixed is the whole text of a template without fields, made once here
	// so that rendering it is a copy.
	fixed string
}

// parseTemplate parses src. It reports the first syntax error with its byte
// offset.
func parseTemplate(src string) (*template, error) {
	p := parser{src: src}
	nodes, err := p.nodes(0)
	if err != nil {
		return nil, err
	}
	t := &template{nodes: nodes}
	walkFields(nodes, func(*field) { t.hasFields = true })
	if !t.hasFields {
		var b strings.Builder
		walkLiterals(nodes, func(s string) { b.WriteString(s) })
		t.fixed = b.String()
	}
	return t, nil
}

// parser is a recursive-descent parser over a template's bytes.
type parser struct {
	src string
	pos int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("template %q: at byte %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

// nodes parses a sequence up to the end of the source (depth 0) or up to the
// ']' closing the current section (depth > 0), which it consumes.
func (p *parser) nodes(depth int) ([]node, error) {
	var out []node
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, node{kind: nodeLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\\':
			r, err := p.escape()
			if err != nil {
				return nil, err
			}
			lit.WriteByte(r)
		case '{':
			p.pos++
			f, err := p.placeholder()
			if err != nil {
				return nil, err
			}
			flush()
			out = append(out, node{kind: nodeField, field: f})
		case '[':
			p.pos++
			children, err := p.nodes(depth + 1)
			if err != nil {
				return nil, err
			}
			if !hasDirectField(children) {
				return nil, p.errorf("optional section references no field")
			}
			flush()
			out = append(out, node{kind: nodeSection, children: children})
		case ']':
			if depth == 0 {
				return nil, p.errorf("unexpected ']' (write \\] for a literal one)")
			}
			p.pos++
			flush()
			return out, nil
		case '}':
			return nil, p.errorf("unexpected '}' (write \\} for a literal one)")
		default:
			lit.WriteByte(c)
			p.pos++
		}
	}
	if depth > 0 {
		return nil, p.errorf("unclosed '['")
	}
	flush()
	return out, nil
}

// escape consumes a backslash and the character it escapes.
func (p *parser) escape() (byte, error) {
	if p.pos+1 >= len(p.src) {
		return 0, p.errorf("'\\' at the end")
	}
	c := p.src[p.pos+1]
	if !strings.ContainsRune(`{}[]|#\`, rune(c)) {
		return 0, p.errorf("unknown escape '\\%c'", c)
	}
	p.pos += 2
	return c, nil
}

// placeholder parses what follows a '{' up to and including its '}'.
func (p *parser) placeholder() (*field, error) {
	start := p.pos
	for p.pos < len(p.src) && isPathByte(p.src[p.pos]) {
		p.pos++
	}
	f := &field{path: p.src[start:p.pos]}
	if f.path == "" {
		return nil, p.errorf("missing field path after '{'")
	}
	f.segs = strings.Split(f.path, ".")
	for _, s := range f.segs {
		if s == "" {
			return nil, p.errorf("empty segment in field path %q", f.path)
		}
	}
	if p.pos >= len(p.src) {
		return nil, p.errorf("unclosed '{'")
	}
	switch p.src[p.pos] {
	case '}':
		p.pos++
		return f, nil
	case ':':
		p.pos++
	default:
		return nil, p.errorf("unexpected %q in field path", p.src[p.pos])
	}
	switch {
	case strings.HasPrefix(p.src[p.pos:], "value}"):
		p.pos += len("value}")
		f.mode = modeValue
		return f, nil
	case strings.HasPrefix(p.src[p.pos:], "plural:"):
		p.pos += len("plural:")
		f.mode = modePlural
		return f, p.pluralForms(f)
	}
	return nil, p.errorf("unknown modifier after %q (want :value or :plural:...)", f.path)
}

// pluralForms parses "cat=text|cat=text...}" into f.forms.
func (p *parser) pluralForms(f *field) error {
	var seen [numForms]bool
	for {
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= 'a' && p.src[p.pos] <= 'z' {
			p.pos++
		}
		name := p.src[start:p.pos]
		form, ok := formNames[name]
		if !ok {
			return p.errorf("unknown plural category %q (want zero, one, two, few, many or other)", name)
		}
		if seen[form] {
			return p.errorf("plural category %q given twice", name)
		}
		seen[form] = true
		if p.pos >= len(p.src) || p.src[p.pos] != '=' {
			return p.errorf("want '=' after plural category %q", name)
		}
		p.pos++
		parts := []string{}
		var cur strings.Builder
	text:
		for {
			if p.pos >= len(p.src) {
				return p.errorf("unclosed '{'")
			}
			c := p.src[p.pos]
			switch c {
			case '\\':
				r, err := p.escape()
				if err != nil {
					return err
				}
				cur.WriteByte(r)
			case '#':
				parts = append(parts, cur.String())
				cur.Reset()
				p.pos++
			case '|', '}':
				break text
			case '{', '[', ']':
				return p.errorf("unexpected %q in a plural form (escape it with '\\')", c)
			default:
				cur.WriteByte(c)
				p.pos++
			}
		}
		f.forms[form] = append(parts, cur.String())
		c := p.src[p.pos]
		p.pos++
		if c == '}' {
			break
		}
	}
	if f.forms[plural.Other] == nil {
		return p.errorf("plural of %q has no 'other' form", f.path)
	}
	return nil
}

func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

func hasDirectField(nodes []node) bool {
	for _, n := range nodes {
		if n.kind == nodeField {
			return true
		}
	}
	return false
}

// walkFields calls fn for every field of nodes, sections included.
func walkFields(nodes []node, fn func(*field)) {
	for i := range nodes {
		switch nodes[i].kind {
		case nodeField:
			fn(nodes[i].field)
		case nodeSection:
			walkFields(nodes[i].children, fn)
		}
	}
}

func walkLiterals(nodes []node, fn func(string)) {
	for i := range nodes {
		switch nodes[i].kind {
		case nodeLiteral:
			fn(nodes[i].text)
		case nodeSection:
			walkLiterals(nodes[i].children, fn)
		}
	}
}

// checkFields reports an error for the first field t references that is not
// in fields, the model field paths of its key. This is what keeps a
// translator from naming a field the key's model never has, which would
// render "?" (or drop a section) for every event.
func checkFields(t *template, fields []string) error {
	var err error
	walkFields(t.nodes, func(f *field) {
		if err != nil {
			return
		}
		for _, have := range fields {
			if f.path == have {
				return
			}
		}
		err = fmt.Errorf("field %q is not in the key's model fields %q", f.path, fields)
	})
	return err
}
