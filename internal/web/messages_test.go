package web

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/doorlog/doorlog/internal/catalog"
)

// pluralCategories are the CLDR cardinal plural categories of each of the
// page's languages (CLDR 44, as browsers' Intl.PluralRules select them;
// TestBrowser checks the tables against Chromium's).
var pluralCategories = map[string][]string{
	"en": {"one", "other"},
	"da": {"one", "other"},
	"nl": {"one", "other"},
	"tr": {"one", "other"},
	"es": {"many", "one", "other"},
	"fr": {"many", "one", "other"},
	"pl": {"few", "many", "one", "other"},
	"ru": {"few", "many", "one", "other"},
	"uk": {"few", "many", "one", "other"},
}

var placeholder = regexp.MustCompile(`\{(\w+)\}`)

// messages reads the page's message tables, key by key in file order.
func messages(t testing.TB) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, loc := range catalog.Locales() {
		b, err := fs.ReadFile(static, "static/i18n/"+loc+".json")
		if err != nil {
			t.Fatalf("locale %s: %v", loc, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("locale %s: %v", loc, err)
		}
		out[loc] = m
	}
	return out
}

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestMessages fails when a locale's table lacks a key another has, has a
// key the others lack, gives a count the wrong plural categories for its
// language, or drops or adds a placeholder.
func TestMessages(t *testing.T) {
	all := messages(t)
	files, err := fs.Glob(static, "static/i18n/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(files), len(catalog.Locales()); got != want {
		t.Errorf("message tables: got %d files (%v), want one per locale (%d)", got, files, want)
	}
	en := all["en"]
	for _, loc := range catalog.Locales() {
		t.Run(loc, func(t *testing.T) {
			m := all[loc]
			for k := range en {
				if _, ok := m[k]; !ok {
					t.Errorf("key %q: missing", k)
				}
			}
			for k, v := range m {
				want, ok := en[k]
				if !ok {
					t.Errorf("key %q: not in en (nor, then, in the others)", k)
					continue
				}
				switch w := want.(type) {
				case string:
					s, ok := v.(string)
					if !ok {
						t.Errorf("key %q: got %T, want a string as in en", k, v)
						continue
					}
					if strings.TrimSpace(s) == "" {
						t.Errorf("key %q: empty", k)
					}
					if got, want := placeholders(s), placeholders(w); !slices.Equal(got, want) {
						t.Errorf("key %q: got placeholders %v, want %v", k, got, want)
					}
				case map[string]any:
					forms, ok := v.(map[string]any)
					if !ok {
						t.Errorf("key %q: got %T, want plural forms as in en", k, v)
						continue
					}
					var cats []string
					for c := range forms {
						cats = append(cats, c)
					}
					slices.Sort(cats)
					if !slices.Equal(cats, pluralCategories[loc]) {
						t.Errorf("key %q: got plural categories %v, want %v (CLDR)", k, cats, pluralCategories[loc])
					}
					wantPH := placeholders(w["other"].(string))
					for c, f := range forms {
						s, _ := f.(string)
						got := placeholders(s)
						// The "one" form may say the count in words
						// ("one event"); every other form shows {n}.
						if c == "one" && !slices.Contains(got, "n") {
							got = append(got, "n")
							slices.Sort(got)
						}
						if !slices.Equal(got, wantPH) {
							t.Errorf("key %q, form %s: got placeholders %v, want %v", k, c, got, wantPH)
						}
					}
				}
			}
		})
	}
}

// TestPageKeys fails when the page's HTML or scripts use a message key no
// table has. Keys built at run time (priority.<p>, window.<w> …) are
// checked through their known parts.
func TestPageKeys(t *testing.T) {
	en := messages(t)["en"]
	used := map[string]bool{}
	html, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`).FindAllStringSubmatch(string(html), -1) {
		used[m[1]] = true
	}
	scripts, err := fs.Glob(static, "static/*.js")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\btn?\('([a-z0-9_.]+)'`)
	literal := regexp.MustCompile(`'((?:alarm|charts|window\.option|devices|events|live|login|filters|app|dialog|offline|alarms|duration)\.[a-z0-9_.]+)'`)
	for _, f := range scripts {
		b, err := fs.ReadFile(static, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range []*regexp.Regexp{call, literal} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				used[m[1]] = true
			}
		}
	}
	for _, p := range []string{"critical", "high", "medium", "low"} {
		used["priority."+p] = true
	}
	for _, c := range []string{"access", "emergency", "system", "info"} {
		used["category."+c] = true
	}
	for _, w := range []string{"1h", "today", "7d", "custom", "all"} {
		used["window."+w] = true
	}
	for _, r := range []string{"admin", "manager", "device"} {
		used["role."+r] = true
	}
	if len(used) < 100 {
		t.Fatalf("found %d keys in the page: the patterns no longer find them", len(used))
	}
	for k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("the page uses %q: no such message", k)
		}
	}
}
