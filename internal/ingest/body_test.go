package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// splitBodyOracle is how bodies were split before they were read as a
// stream: the whole body in memory, cut into items. readItems must find the
// same items, and fail on the same bodies.
func splitBodyOracle(body []byte, ndjson bool) ([][]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if ndjson {
		var out [][]byte
		for line := range bytes.SplitSeq(trimmed, []byte("\n")) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				out = append(out, line)
			}
		}
		return out, nil
	}
	switch trimmed[0] {
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, err
		}
		out := make([][]byte, len(raws))
		for i, r := range raws {
			out[i] = r
		}
		return out, nil
	case '{':
		// The old split looped while dec.More(), which is false at a stray
		// '}' or ']': `{"a":1}]{"b":2}` stored the first event, dropped
		// the rest, and answered 200. Decoding to the end refuses it.
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		var out [][]byte
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, raw)
		}
	}
	return nil, errors.New("not an object, array or NDJSON")
}

// collect reads the items of body through r with readItems.
func collect(r io.Reader, ndjson bool, maxItem int) (items [][]byte, tooLarge int, err error) {
	err = readItems(r, ndjson, maxItem, func(raw []byte, big bool) error {
		if big {
			tooLarge++
			items = append(items, nil)
			return nil
		}
		items = append(items, bytes.Clone(raw))
		return nil
	})
	return items, tooLarge, err
}

func FuzzReadItems(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1}{"b":2}`, "{\"a\":1}\n\n {\"b\":[1,2]}\n", `[{"a":1}, {"b":2}]`, `[]`, `[`, `[1,]`, `[1] x`,
		`[{"a":"}"}]  `, "\t\n", `nul`, `{"a":1} x`, `{"a":1}]{"b":2}`, `{}}`, "{\"a\":\"\\u00e9\"}\r\n{\"b\":2}", "\f[1]", "[1]\u00a0",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		if !ndjson && !bytes.Equal(bytes.TrimSpace(body), bytes.Trim(body, " \t\r\n")) {
			// The old split trimmed Unicode spaces (\v, \f, U+0085,
			// U+00A0) around a JSON body; the stream reads JSON's own
			// whitespace only, as JSON has it. No client sends those.
			return
		}
		want, wantErr := splitBodyOracle(body, ndjson)
		// One byte at a time, so every read boundary is met.
		got, tooLarge, err := collect(iotest.OneByteReader(bytes.NewReader(body)), ndjson, 1<<20)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("body %q (ndjson %v): got error %v, want error %v", body, ndjson, err, wantErr)
		}
		if err != nil {
			return
		}
		if tooLarge != 0 || len(got) != len(want) {
			t.Fatalf("body %q (ndjson %v): got %d items (%d too large), want %d", body, ndjson, len(got), tooLarge, len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("body %q (ndjson %v): item %d: got %q, want %q", body, ndjson, i, got[i], want[i])
			}
		}
	})
}

// TestReadItemsTooLarge rejects items longer than the limit, whichever way
// the body is written, without keeping them, and goes on with the next.
func TestReadItemsTooLarge(t *testing.T) {
	long := `{"model":{"pad":"` + string(bytes.Repeat([]byte("x"), 200<<10)) + `"}}`
	tests := []struct {
		name   string
		body   string
		ndjson bool
	}{
		{"ndjson line longer than the read buffer", "{\"a\":1}\n" + long + "\n{\"b\":2}\n", true},
		{"array element", `[{"a":1},` + long + `,{"b":2}]`, false},
		{"concatenated objects", `{"a":1}` + long + `{"b":2}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tooLarge, err := collect(bytes.NewReader([]byte(tt.body)), tt.ndjson, 64<<10)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(got) != 3 || tooLarge != 1 || got[1] != nil || string(got[0]) != `{"a":1}` || string(got[2]) != `{"b":2}` {
				t.Fatalf("got %d items (%d too large), want 3 with the middle one too large", len(got), tooLarge)
			}
		})
	}
}

// TestReadItemsReadError tells a reader's failure from a bad body.
func TestReadItemsReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, ndjson := range []bool{false, true} {
		r := io.MultiReader(bytes.NewReader([]byte(`[{"a":1},`)), iotest.ErrReader(boom))
		if ndjson {
			r = io.MultiReader(bytes.NewReader([]byte("{\"a\":1}\n")), iotest.ErrReader(boom))
		}
		_, _, err := collect(r, ndjson, 1<<20)
		var re *ReadError
		if !errors.As(err, &re) || !errors.Is(err, boom) {
			t.Errorf("ndjson %v: got %v, want a ReadError wrapping the reader's error", ndjson, err)
		}
	}
}
