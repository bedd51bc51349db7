package catalog

import (
	"strings"

	"golang.org/x/text/cases"
)

// KeysMatching returns the catalog keys, in catalog order, whose name in
// any of the nine locales contains text, or whose key itself does (the key
// is what integrators see, and what an unknown key renders as). Matching
// folds case the Unicode way, so "ДВЕРІ" finds "Двері" and "STRASSE" finds
// "Straße"; and since Turkish pairs i with İ and ı with I, which no
// locale-free folding can know, the four are one letter here: "KAPI" finds
// "Kapı".
//
// Names are not stored with events: a free-text search of the log asks the
// catalog which keys a text names and then looks for those keys, which is
// why this exists. An empty text matches nothing.
func (c *Catalog) KeysMatching(text string) []string {
	if text == "" {
		return nil
	}
	// A Caser keeps state, so each call makes its own: the Catalog stays
	// safe for concurrent use.
	fold := cases.Fold()
	want := foldString(fold, text)
	var out []string
	for _, key := range c.keys {
		if strings.Contains(key, want) || c.nameContains(key, want) {
			out = append(out, key)
		}
	}
	return out
}

// nameContains reports whether key's name in some locale, case-folded,
// contains folded.
func (c *Catalog) nameContains(key, folded string) bool {
	for _, name := range c.folded[key] {
		if strings.Contains(name, folded) {
			return true
		}
	}
	return false
}

// foldNames case-folds every key's names once, at load.
func (c *Catalog) foldNames() {
	fold := cases.Fold()
	c.folded = make(map[string][]string, len(c.keys))
	for _, key := range c.keys {
		for _, name := range locales {
			c.folded[key] = append(c.folded[key], foldString(fold, c.locales[name].names[key]))
		}
	}
}

// foldString case-folds s for matching, and turns what folding leaves of
// the Turkish i's into a plain i: the dotless ı, and the combining dot
// above that İ folds to after its i.
func foldString(fold cases.Caser, s string) string {
	s = fold.String(s)
	if strings.ContainsAny(s, "ı\u0307") {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "ı", "i"), "\u0307", "")
	}
	return s
}
