package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name, got, want string
		diffs           []string
	}{
		{"same, other order and spacing", `{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1 }`, nil},
		{"big integers stay exact", `{"n":12345678901234567891}`, `{"n":12345678901234567890}`, []string{"$.n: got 12345678901234567891, want 12345678901234567890"}},
		{"1.0 is not 1", `{"n":1.0}`, `{"n":1}`, []string{"$.n: got 1.0, want 1"}},
		{"missing and extra", `{"a":1,"c":3}`, `{"a":1,"b":2}`, []string{"$.b: missing, want 2", "$.c: got 3, want no such field"}},
		{"array length", `[1]`, `[1,2]`, []string{"$: got 1 elements, want 2"}},
		{"null is not an object", `{"a":null}`, `{"a":{}}`, []string{"$.a: got null, want an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := DecodeExact([]byte(tt.got))
			if err != nil {
				t.Fatal(err)
			}
			w, err := DecodeExact([]byte(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			if got := Diff(g, w); strings.Join(got, "|") != strings.Join(tt.diffs, "|") {
				t.Fatalf("got %q, want %q", got, tt.diffs)
			}
		})
	}
	if _, err := DecodeExact([]byte(`{} {}`)); err == nil {
		t.Fatal("got no error for two values, want one")
	}
}

func TestCheckUpdateThenCompare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "x.json")
	Check(t, path, []byte(`{"b":2,"a":[1]}`), true)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "\n  \"b\": 2") {
		t.Fatalf("got file %q, want it indented", raw)
	}
	Check(t, path, []byte(`{"a":[1],"b":2}`), false)
}
