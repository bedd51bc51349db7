// Package golden compares JSON responses with golden files by meaning: both
// sides are decoded with numbers kept exact, so key order and spacing do not
// matter but every value does. Each API package owns its golden files in its
// testdata/ directory and its own -update flag; this package is the one
// comparison they share.
package golden

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Check compares body with the JSON file at path, reporting every
// difference as "path: got X, want Y". With update it rewrites the file
// from body (indented) instead.
func Check(tb testing.TB, path string, body []byte, update bool) {
	tb.Helper()
	if update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
			tb.Fatalf("indent %s: %v (body %s)", path, err, body)
		}
		buf.WriteByte('\n')
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatalf("make %s: %v", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			tb.Fatalf("write golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden (run the package's tests with -update to create it): %v", err)
	}
	wantV, err := DecodeExact(want)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	Compare(tb, body, wantV, path+" (-update rewrites it)")
}

// Compare compares a JSON body with an already decoded value and reports
// every difference, naming what was compared against.
func Compare(tb testing.TB, body []byte, want any, what string) {
	tb.Helper()
	got, err := DecodeExact(body)
	if err != nil {
		tb.Fatalf("decode response: %v (body %s)", err, body)
	}
	if diffs := Diff(got, want); len(diffs) > 0 {
		const most = 40
		more := ""
		if len(diffs) > most {
			more = fmt.Sprintf("\n... and %d more", len(diffs)-most)
			diffs = diffs[:most]
		}
		tb.Errorf("response differs from %s:\n%s%s", what, strings.Join(diffs, "\n"), more)
	}
}

// DecodeExact decodes one JSON value with numbers as json.Number, so that
// 12345678901234567890 and 1.0 stay exactly as written.
func DecodeExact(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// Diff lists the paths where got and want differ, as "path: got X, want Y",
// with object keys in sorted order.
func Diff(got, want any) []string {
	return diff("$", got, want, nil)
}

func diff(path string, got, want any, out []string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return append(out, fmt.Sprintf("%s: got %s, want an object", path, short(got)))
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				out = append(out, fmt.Sprintf("%s.%s: missing, want %s", path, k, short(wv)))
			case !wok:
				out = append(out, fmt.Sprintf("%s.%s: got %s, want no such field", path, k, short(gv)))
			default:
				out = diff(path+"."+k, gv, wv, out)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return append(out, fmt.Sprintf("%s: got %s, want an array", path, short(got)))
		}
		if len(g) != len(w) {
			out = append(out, fmt.Sprintf("%s: got %d elements, want %d", path, len(g), len(w)))
		}
		for i := range min(len(g), len(w)) {
			out = diff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i], out)
		}
		return out
	default:
		if !reflect.DeepEqual(got, want) {
			out = append(out, fmt.Sprintf("%s: got %s, want %s", path, short(got), short(want)))
		}
		return out
	}
}

// short renders a JSON value for a diff line.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}
