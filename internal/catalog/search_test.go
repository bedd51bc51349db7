package catalog

import (
	"slices"
	"strings"
	"testing"
)

func TestKeysMatching(t *testing.T) {
	c := newCatalog(t)
	tests := []struct {
		name string
		text string
		// want are keys that must be in the result; exact, when set,
		// is the whole result.
		want  []string
		exact bool
	}{
		{"empty", "", nil, true},
		{"nothing", "zzzz-no-such-name", nil, true},
		{"English, any case", "TAMPER TRIGGERED", []string{"tamper_event"}, true},
		{"English part of a word", "tamp", []string{"tamper_event"}, false},
		{"key itself", "door_was_opened", []string{"door_was_opened"}, true},
		{"Ukrainian, upper case", "ЗАМОК ВІДІМКНЕНО ІДЕНТИФІКАТОРОМ", []string{"access_granted_by_valid_identifier"}, false},
		{"Ukrainian, lower case", "невідомий qr-код", []string{"access_denied_by_unknown_qr"}, true},
		{"Turkish dotless I", "SABOTAJ ALGILANDI", []string{"tamper_event"}, true},
		{"Turkish dotted I", "gİrİş", []string{"successful_login_api_call"}, false},
		{"several keys", "lift", []string{"lift_call_success", "lift_call_error", "lift_module_access_error"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.KeysMatching(tt.text)
			if tt.exact && !slices.Equal(got, tt.want) {
				t.Fatalf("KeysMatching(%q): got %q, want %q", tt.text, got, tt.want)
			}
			for _, k := range tt.want {
				if !slices.Contains(got, k) {
					t.Errorf("KeysMatching(%q): got %q, want it to contain %q", tt.text, got, k)
				}
			}
		})
	}
}

// TestKeysMatchingEveryName checks every name of every key in every
// locale: the name itself, upper-cased and lower-cased, finds its key, and
// every key found has a name or key containing the text.
func TestKeysMatchingEveryName(t *testing.T) {
	c := newCatalog(t)
	for _, loc := range Locales() {
		for _, key := range c.Keys() {
			name := c.Name(loc, key)
			for _, text := range []string{name, strings.ToUpper(name), strings.ToLower(name)} {
				got := c.KeysMatching(text)
				if !slices.Contains(got, key) {
					t.Errorf("%s: KeysMatching(%q): got %q, want it to contain %q", loc, text, got, key)
				}
			}
		}
	}
	// The result is in catalog order, without repeats.
	got := c.KeysMatching("a")
	keys := c.Keys()
	last := -1
	for _, k := range got {
		i := slices.Index(keys, k)
		if i <= last {
			t.Fatalf("KeysMatching(%q): %q out of catalog order or repeated in %q", "a", k, got)
		}
		last = i
	}
}

func BenchmarkKeysMatching(b *testing.B) {
	c := newCatalog(b)
	for b.Loop() {
		c.KeysMatching("Двері")
	}
}
