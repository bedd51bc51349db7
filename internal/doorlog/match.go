package doorlog

import (
	"encoding/json"
	"time"
)

// Match reports whether the stored event e is one the filter selects: it is
// the store's query (see the comments on EventFilter and the storetest
// suite's RunMatch, which holds every backend to the same answers) written
// for one event in memory, for live streams that filter events as they are
// committed.
//
// It is meant to run for every committed event times every subscriber, so it
// allocates nothing on its common paths: the model is only scanned when
// Text, IdentifierNumbers or IdentifierTypes are set, and then in place.
//
// The identifier fields are read from the top level of the model, the first
// time a field occurs. An identifier number is a string's value or a
// number's JSON literal (12345 and "12345" are the same); an identifier type
// is a string; anything else names nothing, except that a "card" or "qr"
// field of any value but null gives the event that identifier type.
func (f EventFilter) Match(e Event) bool {
	if !f.matchSite(e.SiteID) {
		return false
	}
	if len(f.DeviceIDs) > 0 && !matchDevice(f.DeviceIDs, e.DeviceID) {
		return false
	}
	if len(f.Categories) > 0 && !contains(f.Categories, e.Category) {
		return false
	}
	if len(f.Priorities) > 0 && !contains(f.Priorities, e.Priority) {
		return false
	}
	if len(f.Keys) > 0 && !contains(f.Keys, e.Key) {
		return false
	}
	if f.StoredAfter != "" && e.ID <= f.StoredAfter {
		return false // ids are fixed-width: as strings they sort as numbers
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		ms := e.Time.UnixMilli()
		if !f.From.IsZero() && ms < ceilMillis(f.From) {
			return false
		}
		if !f.To.IsZero() && ms > f.To.UnixMilli() {
			return false
		}
	}
	model := e.Model
	if len(model) == 0 {
		model = emptyModel // what the store keeps for an event without one
	}
	if f.Text != "" && !containsFoldASCII(model, f.Text) && !contains(f.TextKeys, e.Key) {
		return false
	}
	if len(f.IdentifierNumbers) > 0 || len(f.IdentifierTypes) > 0 {
		return f.matchIdentifier(model)
	}
	return true
}

var emptyModel = json.RawMessage("{}")

// matchSite applies the scope and the SiteIDs list together, the way the
// store does: an event of the server itself (no site) is only visible to a
// scope of everything with no site named.
func (f EventFilter) matchSite(siteID string) bool {
	if f.Scope.All && len(f.SiteIDs) == 0 {
		return true
	}
	if siteID == "" {
		return false
	}
	if len(f.SiteIDs) > 0 && !contains(f.SiteIDs, siteID) {
		return false
	}
	return f.Scope.Allows(siteID)
}

// matchDevice reports whether one of ids names the device id, a stored
// (canonical, lower-case) UUID. The store canonicalises the ids of a filter;
// a value equal to a canonical UUID but for ASCII case is one of that UUID's
// spellings, and no other spelling is 36 bytes long.
func matchDevice(ids []string, id string) bool {
	if id == "" {
		return false
	}
	for _, want := range ids {
		if len(want) == len(id) && equalFoldASCII(want, id) {
			return true
		}
	}
	return false
}

// ceilMillis is the first whole millisecond at or after t: From is
// inclusive, so an event at an earlier millisecond is out even when t falls
// inside that millisecond.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s contains sub, comparing ASCII letters
// without regard to case and every other byte exactly.
func containsFoldASCII(s []byte, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	first := lowerASCII(sub[0])
	for i := 0; i+n <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// identifierFields is what matchIdentifier reads from a model: the first
// occurrence of each field it knows.
type identifierFields struct {
	number, identifierNumber, card, qr, typ, identifierType idField
}

// idField is one top-level field of a model.
type idField struct {
	// seen is true once the field was read; later repeats are ignored.
	seen bool
	// present is true when the field has a value other than null.
	present bool
	// text is the value of a string or a number, when ok; it points into
	// the model unless the string had escapes.
	text []byte
	ok   bool
	// str is true when the value is a string.
	str bool
}

// is reports whether the field is a string or number whose text is v.
func (f *idField) is(v string) bool { return f.ok && string(f.text) == v }

// isString reports whether the field is a string whose value is v.
func (f *idField) isString(v string) bool { return f.str && string(f.text) == v }

// matchIdentifier applies IdentifierNumbers and IdentifierTypes to a model.
// Each list, when set, must be matched by one of the fields it names; the
// two are independent conditions, as every other pair of filter fields is.
func (f EventFilter) matchIdentifier(model []byte) bool {
	var id identifierFields
	if !scanIdentifier(model, &id) {
		return false // not a JSON object: the store keeps none such
	}
	if len(f.IdentifierNumbers) > 0 {
		ok := false
		for _, n := range f.IdentifierNumbers {
			if id.number.is(n) || id.identifierNumber.is(n) || id.card.is(n) || id.qr.is(n) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.IdentifierTypes) > 0 {
		ok := false
		for _, t := range f.IdentifierTypes {
			if id.typ.isString(t) || id.identifierType.isString(t) || t == "card" && id.card.present || t == "qr" && id.qr.present {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// scanIdentifier reads the identifier fields of the top level of a JSON
// object in place, without decoding the rest. It reports false when model
// is not a JSON object.
func scanIdentifier(model []byte, id *identifierFields) bool {
	p := scanner{s: model}
	p.space()
	if !p.byte('{') {
		return false
	}
	p.space()
	if p.byte('}') {
		return true
	}
	for {
		p.space()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		start := p.i
		if !p.value() {
			return false
		}
		if dst := id.field(key); dst != nil && !dst.seen {
			raw := model[start:p.i]
			dst.seen = true
			dst.present = string(raw) != "null"
			dst.text, dst.ok = scalarText(raw)
			dst.str = dst.ok && raw[0] == '"'
		}
		p.space()
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

// field returns the field named by the raw (still escaped) string body key,
// or nil for a field matchIdentifier does not read.
func (id *identifierFields) field(key []byte) *idField {
	switch string(key) { // compared in place, without allocating
	case "number":
		return &id.number
	case "identifier_number":
		return &id.identifierNumber
	case "card":
		return &id.card
	case "qr":
		return &id.qr
	case "type":
		return &id.typ
	case "identifier_type":
		return &id.identifierType
	}
	if !hasBackslash(key) {
		return nil
	}
	// A name written with escapes ("n\u0075mber") is rare enough to
	// decode.
	var name string
	if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &name) != nil || hasBackslash([]byte(name)) {
		return nil
	}
	return id.field([]byte(name))
}

// scalarText returns the text of a JSON string or number value raw: a
// string's value, a number's literal.
func scalarText(raw []byte) ([]byte, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	switch kind := raw[0]; {
	case kind == '"':
		body := raw[1 : len(raw)-1]
		if !hasBackslash(body) {
			return body, true
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []byte(s), true
	case kind == '-' || '0' <= kind && kind <= '9':
		return raw, true
	}
	return nil, false
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// scanner walks JSON text in place. It checks structure only as far as it
// needs to find the end of each value: the store holds valid JSON.
type scanner struct {
	s []byte
	i int
}

func (p *scanner) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *scanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string and returns its body, escapes left as they are.
func (p *scanner) str() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i += 2
		case '"':
			body := p.s[start:p.i]
			p.i++
			return body, true
		default:
			p.i++
		}
	}
	return nil, false
}

// value skips one value of any kind.
func (p *scanner) value() bool {
	switch c := p.peek(); c {
	case '"':
		_, ok := p.str()
		return ok
	case '{', '[':
		return p.nested()
	case 0:
		return false
	default:
		// A number, true, false or null: up to the next delimiter.
		start := p.i
		for p.i < len(p.s) {
			switch p.s[p.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return p.i > start
			}
			p.i++
		}
		return p.i > start
	}
}

// nested skips an object or an array, strings inside it included.
func (p *scanner) nested() bool {
	depth := 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '"':
			if _, ok := p.str(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		}
		p.i++
	}
	return false
}
