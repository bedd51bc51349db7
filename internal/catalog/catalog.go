// Package catalog is the table of known event keys and the renderer of their
// names and texts in the nine locales of the BAS-IP panel API.
//
// Events are stored unrendered (a key and a JSON model); every API renders
// them on read through a Catalog, so a fixed translation shows up in old
// events too. Unknown keys are valid: a device's new firmware must never
// lose events, so they get category info, priority low and their key as name
// and text.
//
// The data lives in embedded files: catalog.json (keys, categories,
// priorities, codes, activity types, model fields) and locales/<locale>.json
// (names, text templates and value terms). New parses and checks all of them
// once; see README.md for the template syntax and the tables.
package catalog

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/language"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// DefaultLocale is the locale used when none or an unknown one is asked for,
// as BAS-IP panels do.
const DefaultLocale = "en"

// UnknownCode is the AIPIX event_code of a key that is not in the catalog.
// It is outside the range of the catalog's own codes (0 for cam_light, 1..40
// for the BAS-IP keys) so a client can tell "unknown" from any real event.
const UnknownCode = 999

// UnknownActivityType is the OLOID activityType of a key that is not in the
// catalog.
const UnknownActivityType = "OTHER"

// locales are the BAS-IP locales in the order the panel API lists them.
var locales = [...]string{"en", "es", "ru", "uk", "pl", "nl", "tr", "fr", "da"}

// Locales returns the nine locales in BAS-IP's order, DefaultLocale first. It
// returns a fresh slice each call, so a caller may modify it.
func Locales() []string {
	return slices.Clone(locales[:])
}

// IsLocale reports whether s is one of the nine locales, exactly as spelled
// (lower case, no region).
func IsLocale(s string) bool {
	return slices.Contains(locales[:], s)
}

// Entry is what the catalog knows about one event key.
type Entry struct {
	Key      string
	Category doorlog.Category
	Priority doorlog.Priority
	// Code is the AIPIX event_code.
	Code int
	// ActivityType is the OLOID activityType, in upper snake case.
	ActivityType string
	// Fields are the model field paths the key's model defines, dotted for
	// nesting ("info.user.name"). The slice is shared: do not modify it.
	Fields []string
	// Known is false for a key not in the catalog.
	Known bool
}

// Catalog is the parsed and checked catalog. It is immutable after New and
// safe for concurrent use.
type Catalog struct {
	keys    []string
	entries map[string]Entry
	locales map[string]*locale
	en      *locale
	// folded holds, per key, its names in every locale case-folded for
	// KeysMatching, computed once here rather than on every search.
	folded map[string][]string
	// models holds decoded models (*model) for reuse, so that rendering a
	// text, which happens for every event any API serves, does not
	// allocate a new tree each time.
	models sync.Pool
}

// locale is one locale file, with its templates compiled.
type locale struct {
	name   string
	tag    language.Tag
	names  map[string]string
	texts  map[string]*template
	values map[string]string
}

//go:embed catalog.json locales/*.json
var files embed.FS

// New parses and checks the embedded catalog and locale files. It returns an
// error describing every inconsistency found (a key without a name or text
// in some locale, a template that does not parse or names a field the key's
// model lacks, a value term missing from a locale ...), so a bad translation
// fails at start-up and in the tests, never at render time.
func New() (*Catalog, error) {
	return load(files)
}

// catalogFile is the shape of catalog.json.
type catalogFile struct {
	Keys []struct {
		Key          string   `json:"key"`
		Category     string   `json:"category"`
		Priority     string   `json:"priority"`
		Code         *int     `json:"code"`
		ActivityType string   `json:"activity_type"`
		Fields       []string `json:"fields"`
	} `json:"keys"`
}

// localeFile is the shape of locales/<locale>.json.
type localeFile struct {
	Names  map[string]string `json:"names"`
	Texts  map[string]string `json:"texts"`
	Values map[string]string `json:"values"`
}

// load builds a Catalog from fsys, which holds catalog.json and
// locales/<locale>.json.
func load(fsys fs.FS) (*Catalog, error) {
	var cf catalogFile
	if err := decodeFile(fsys, "catalog.json", &cf); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{entries: make(map[string]Entry, len(cf.Keys)), locales: make(map[string]*locale, len(locales))}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	codes := map[int]string{}
	for i, k := range cf.Keys {
		where := fmt.Sprintf("catalog.json: key #%d %q", i+1, k.Key)
		if !isSnake(k.Key, 'a', 'z') {
			bad("%s: key must be lower snake case", where)
			continue
		}
		if _, dup := c.entries[k.Key]; dup {
			bad("%s: duplicate key", where)
			continue
		}
		e := Entry{
			Key:          k.Key,
			Category:     doorlog.Category(k.Category),
			Priority:     doorlog.Priority(k.Priority),
			ActivityType: k.ActivityType,
			Fields:       slices.Clip(k.Fields),
			Known:        true,
		}
		if !slices.Contains(doorlog.Categories, e.Category) {
			bad("%s: unknown category %q", where, k.Category)
		}
		if !slices.Contains(doorlog.Priorities, e.Priority) {
			bad("%s: unknown priority %q", where, k.Priority)
		}
		switch {
		case k.Code == nil:
			bad("%s: no code", where)
		case *k.Code < 0 || *k.Code == UnknownCode:
			bad("%s: code %d is negative or UnknownCode", where, *k.Code)
		case codes[*k.Code] != "":
			bad("%s: code %d is also %q's", where, *k.Code, codes[*k.Code])
		default:
			e.Code = *k.Code
			codes[e.Code] = k.Key
		}
		if !isSnake(k.ActivityType, 'A', 'Z') {
			bad("%s: activity_type %q must be upper snake case", where, k.ActivityType)
		}
		if e.Fields == nil {
			bad("%s: no fields list (write [] for a key without a model)", where)
		}
		for j, f := range e.Fields {
			if !isFieldPath(f) {
				bad("%s: bad field path %q", where, f)
			}
			if slices.Contains(e.Fields[:j], f) {
				bad("%s: duplicate field %q", where, f)
			}
		}
		c.keys = append(c.keys, k.Key)
		c.entries[k.Key] = e
	}

	for _, name := range locales {
		loc, lerrs := c.loadLocale(fsys, name)
		errs = append(errs, lerrs...)
		if loc != nil {
			c.locales[name] = loc
		}
	}
	c.en = c.locales[DefaultLocale]
	if c.en != nil {
		for _, name := range locales[1:] {
			loc := c.locales[name]
			if loc == nil {
				continue
			}
			for _, term := range sortedKeys(c.en.values) {
				if _, ok := loc.values[term]; !ok {
					bad("locales/%s.json: value term %q of en is missing", name, term)
				}
			}
			for _, term := range sortedKeys(loc.values) {
				if _, ok := c.en.values[term]; !ok {
					bad("locales/%s.json: value term %q is not in en", name, term)
				}
			}
		}
	}
	// Any stray file is a locale the API would never serve.
	if stray, _ := fs.Glob(fsys, "locales/*"); len(stray) > 0 {
		for _, p := range stray {
			name, ok := strings.CutSuffix(strings.TrimPrefix(p, "locales/"), ".json")
			if !ok || !IsLocale(name) {
				bad("%s: not one of the locales %v", p, locales)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c.foldNames()
	return c, nil
}

// loadLocale parses and checks one locale file against the catalog's keys.
func (c *Catalog) loadLocale(fsys fs.FS, name string) (*locale, []error) {
	file := "locales/" + name + ".json"
	var lf localeFile
	if err := decodeFile(fsys, file, &lf); err != nil {
		return nil, []error{err}
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(file+": "+format, args...))
	}
	loc := &locale{
		name:   name,
		tag:    language.Make(name),
		names:  lf.Names,
		texts:  make(map[string]*template, len(lf.Texts)),
		values: lf.Values,
	}
	for _, term := range sortedKeys(lf.Values) {
		field, val, ok := strings.Cut(term, ".")
		if !ok || !isSnake(field, 'a', 'z') || val == "" || lf.Values[term] == "" {
			bad("value term %q: want \"<field>.<value>\" with a non-empty term", term)
		}
	}
	for _, key := range c.keys {
		if strings.TrimSpace(lf.Names[key]) == "" {
			bad("no name for %q", key)
		}
		src, ok := lf.Texts[key]
		if !ok || strings.TrimSpace(src) == "" {
			bad("no text for %q", key)
			continue
		}
		t, err := parseTemplate(src)
		if err != nil {
			bad("text of %q: %v", key, err)
			continue
		}
		if err := checkFields(t, c.entries[key].Fields); err != nil {
			bad("text of %q: %v", key, err)
			continue
		}
		loc.bindTerms(t)
		loc.texts[key] = t
	}
	for _, key := range sortedKeys(lf.Names) {
		if _, ok := c.entries[key]; !ok {
			bad("name for %q, which is not in the catalog", key)
		}
	}
	for _, key := range sortedKeys(lf.Texts) {
		if _, ok := c.entries[key]; !ok {
			bad("text for %q, which is not in the catalog", key)
		}
	}
	return loc, errs
}

// bindTerms gives every :value field of t the locale's terms for its last
// path segment, keyed by the raw value.
func (loc *locale) bindTerms(t *template) {
	walkFields(t.nodes, func(f *field) {
		if f.mode != modeValue {
			return
		}
		prefix := f.segs[len(f.segs)-1] + "."
		f.terms = map[string]string{}
		for term, text := range loc.values {
			if raw, ok := strings.CutPrefix(term, prefix); ok {
				f.terms[raw] = text
			}
		}
	})
}

func decodeFile(fsys fs.FS, name string, v any) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: data after the JSON object", name)
	}
	return nil
}

// isSnake reports whether s is snake case over the letters lo..hi and digits,
// starting with a letter.
func isSnake(s string, lo, hi byte) bool {
	if s == "" || s[0] < lo || s[0] > hi {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= lo && c <= hi || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isFieldPath(s string) bool {
	for seg := range strings.SplitSeq(s, ".") {
		if !isSnake(seg, 'a', 'z') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Entry returns what the catalog knows about key. For a key not in the
// catalog it returns Known false with category info, priority low,
// UnknownCode and activity type OTHER, the defaults SPEC §1 gives so such
// events are still stored and listed.
func (c *Catalog) Entry(key string) Entry {
	if e, ok := c.entries[key]; ok {
		return e
	}
	return Entry{
		Key:          key,
		Category:     doorlog.CategoryInfo,
		Priority:     doorlog.PriorityLow,
		Code:         UnknownCode,
		ActivityType: UnknownActivityType,
	}
}

// Keys returns every catalog key in a fresh slice: the 40 BAS-IP keys in the
// order of SPEC §3 (access, info, system, emergency), then cam_light. This is
// the order of BAS-IP's available_values.name list.
func (c *Catalog) Keys() []string {
	return slices.Clone(c.keys)
}

// locale returns the locale named name, or DefaultLocale for an unknown one.
func (c *Catalog) locale(name string) *locale {
	if loc, ok := c.locales[name]; ok {
		return loc
	}
	return c.en
}

// Name returns the display name of key in locale (DefaultLocale when locale
// is unknown). For a key not in the catalog it returns the key itself.
func (c *Catalog) Name(locale, key string) string {
	if n, ok := c.locale(locale).names[key]; ok {
		return n
	}
	return key
}

// Text renders the text of an event with the given key and model in locale
// (DefaultLocale when locale is unknown). For a key not in the catalog it
// returns the key itself. It never fails: an empty, null or malformed model
// renders like {}, a missing field renders as "?" and an optional section
// whose fields are missing is left out.
func (c *Catalog) Text(locale, key string, model json.RawMessage) string {
	loc := c.locale(locale)
	t, ok := loc.texts[key]
	if !ok {
		return key
	}
	if !t.hasFields {
		return t.fixed
	}
	var buf [256]byte
	return string(c.render(buf[:0], loc, t, model))
}

// AppendText appends to dst what Text returns, without making a string of
// it: the export and the list write millions of texts straight into their
// output buffers.
func (c *Catalog) AppendText(dst []byte, locale, key string, model json.RawMessage) []byte {
	loc := c.locale(locale)
	t, ok := loc.texts[key]
	if !ok {
		return append(dst, key...)
	}
	return c.render(dst, loc, t, model)
}

// maxPooledModel is the largest model, in bytes, whose decoded tree is kept
// for reuse: a rare huge model should not pin its memory.
const maxPooledModel = 64 << 10

// render appends t rendered in loc with model to dst, with a decoded model
// tree from the pool.
func (c *Catalog) render(dst []byte, loc *locale, t *template, src []byte) []byte {
	if !t.hasFields {
		return append(dst, t.fixed...)
	}
	m, _ := c.models.Get().(*model)
	if m == nil {
		m = new(model)
	}
	dst = t.appendTo(dst, loc.tag, src, m)
	if len(src) <= maxPooledModel {
		m.src = ""
		c.models.Put(m)
	}
	return dst
}
