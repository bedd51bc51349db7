package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/doorlog/doorlog/internal/doorlog"
)

var decodeSeeds = []string{
	`{"device_id":"0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11","time":"2024-05-01T10:00:00.123Z","key":"incoming_call","model":{"a":[1,-2.5e3,true,false,null,{"b":"\u00e9\n"}],"c":{}},"source_id":"x-1"}`,
	`{"time":1714557600000,"key":"k","model":null}`,
	`{ "key" : "k" , "model" : { "a" : [ 1 , 2 ] } }`,
	`{"Key":"k"}`, `{"key":"k","key":"j"}`, `{"key":"\u006b"}`, `{"key":null}`, `{"key":5}`,
	`{"model":"{}"}`, `{"model":[]}`, `{"model":{"a":01}}`, `{"model":{"a":1.}}`, `{"model":{"a":-}}`,
	`{"model":{"a":tru}}`, `{"model":{"a" 1}}`, `{"model":{"a":1,}}`, `{"model":[1,]}`, `{"model":{,}}`,
	`{"time":"2024"} x`, `{"time":"a` + "\x01" + `"}`, `{"source_id":"` + "\xff" + `"}`, `{"model":{"s":"` + "\xff" + `"}}`,
	`{"other":1}`, `{}`, ` {} `, `{`, `}`, `[]`, `{"key":"k",}`, `{"model":{"a":"\x"}}`, `{"model":{"a":"\u12"}}`,
	// Models to repair or refuse: invalid UTF-8 in a value and in a name,
	// lone and paired surrogate escapes, an escaped backslash before "u",
	// and nesting at, and one past, the limit.
	`{"key":"k","model":{"a":"` + "x\xffy" + `"}}`, `{"key":"k","model":{"` + "\xed\xa0\x80" + `":1}}`,
	`{"key":"k","model":{"a":"\ud800"}}`, `{"key":"k","model":{"a":"\udc00\ud83d\ude00"}}`, `{"key":"k","model":{"a":"\\ud800"}}`,
	`{"key":"k","model":{"a":"\ud83d\ude00"}}`, `{"key":"k","model": {"a":"\ud800"}}`,
	`{"key":"k","model":` + strings.Repeat(`{"a":`, 31) + `{}` + strings.Repeat(`}`, 31) + `}`,
	`{"key":"k","model":` + strings.Repeat(`{"a":[`, 16) + `1` + strings.Repeat(`]}`, 16) + `}`,
	`{"key":"k","model":{"a":` + strings.Repeat(`[`, 31) + strings.Repeat(`]`, 31) + `}}`,
	`{"key":"k","model":{"a":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}}`,
}

// FuzzDecode checks the fast decoder against json.Unmarshal: whatever it
// accepts, json.Unmarshal must read the same way, a model it calls compact
// must be what json.Compact makes of it, and Service.model must store the
// same bytes, or refuse with the same message, whichever path read the
// item. Every stored model must pass a strict JSON parser.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	// A small MaxModel lets the fuzzer reach the size limit, where
	// repairing can push a model over.
	svc := &Service{limits: Limits{MaxModel: 64}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var slow Item
		slowErr := json.Unmarshal(raw, &slow)
		if slowErr == nil {
			model, err := svc.model(slow.Model, false)
			if err == nil && !strictJSON(model) {
				t.Fatalf("model %q is stored as %q, which a strict JSON parser refuses", slow.Model, model)
			}
		}
		var fast Item
		compact, ok := newDecoder(len(raw)).decode(raw, &fast)
		if !ok {
			return
		}
		if slowErr != nil {
			t.Fatalf("decoder accepted %q, json.Unmarshal refused it: %v", raw, slowErr)
		}
		if fast.DeviceID != slow.DeviceID || fast.Key != slow.Key || fast.SourceID != slow.SourceID ||
			!bytes.Equal(fast.Time, slow.Time) || !bytes.Equal(fast.Model, slow.Model) {
			t.Fatalf("decoder read %q as %+v, json.Unmarshal as %+v", raw, fast, slow)
		}
		if compact && len(slow.Model) > 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, slow.Model); err != nil || !bytes.Equal(buf.Bytes(), fast.Model) {
				t.Fatalf("decoder called model %q compact; json.Compact gives %q, %v", fast.Model, buf.Bytes(), err)
			}
		}
		fastModel, fastErr := svc.model(fast.Model, compact)
		slowModel, slowErr := svc.model(slow.Model, false)
		if !bytes.Equal(fastModel, slowModel) || fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
			t.Fatalf("model %q: fast path stores %q (%v), slow path %q (%v)", fast.Model, fastModel, fastErr, slowModel, slowErr)
		}
	})
}

// strictJSON reports whether a strict parser, one that refuses invalid
// UTF-8 and lone surrogates as RFC 8259 and RFC 7493 ask (jsontext, Go's
// JSON v2), reads b.
func strictJSON(b []byte) bool {
	return jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true))
}

// TestDecodeModelRules checks that the fast path hands every model that
// needs repair or refusal on to Service.model's full check, and what that
// check makes of it.
func TestDecodeModelRules(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`[`, n) + strings.Repeat(`]`, n) }
	svc := &Service{limits: DefaultLimits}
	tests := []struct {
		name, model string
		fast        bool // read by the fast path
		compact     bool // and found compact and clean
		want        string
		wantErr     string
	}{
		{"plain", `{"a":"é"}`, true, true, `{"a":"é"}`, ""},
		{"spaced", `{ "a":1}`, true, false, `{"a":1}`, ""},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", true, false, "{\"a\":\"\uFFFD\"}", ""},
		{"lone surrogate", `{"a":"\ud800"}`, true, false, `{"a":"\ufffd"}`, ""},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, true, true, `{"a":"\ud83d\ude00"}`, ""},
		{"32 levels", `{"a":` + deep(31) + `}`, true, true, `{"a":` + deep(31) + `}`, ""},
		{"33 levels", `{"a":` + deep(32) + `}`, false, false, "", "nested more than 32 levels"},
		{"8000 levels", `{"a":` + deep(7999) + `}`, false, false, "", "nested more than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(`{"key":"k","model":` + tt.model + `}`)
			var it Item
			compact, ok := newDecoder(len(raw)).decode(raw, &it)
			if ok != tt.fast || ok && compact != tt.compact {
				t.Fatalf("decoder: got ok %v compact %v, want %v %v", ok, compact, tt.fast, tt.compact)
			}
			if !ok {
				if err := json.Unmarshal(raw, &it); err != nil {
					t.Fatal(err)
				}
			}
			got, err := svc.model(it.Model, compact)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(doorlog.ErrorMessage(err), tt.wantErr) {
					t.Fatalf("got %q, %v, want an error mentioning %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestDecodeFastPath(t *testing.T) {
	var it Item
	compact, ok := newDecoder(0).decode([]byte(decodeSeeds[0]), &it)
	if !ok || !compact || it.Key != "incoming_call" || it.SourceID != "x-1" || string(it.Time) != `"2024-05-01T10:00:00.123Z"` {
		t.Fatalf("got %+v, compact %v, ok %v, want the plain item read fast", it, compact, ok)
	}
	if _, ok := newDecoder(0).decode([]byte(`{"Key":"k"}`), &it); ok {
		t.Fatal("decoder read a key spelt differently; want the slow path")
	}
}

func TestValidKey(t *testing.T) {
	long := string(bytes.Repeat([]byte("a"), 100))
	for key, want := range map[string]bool{
		"incoming_call": true, "a": true, "9.x:y-z_": true, long: true, long + "a": false,
		"": false, "_a": false, "a b": false, "é": false, "a\n": false,
	} {
		if got := validKey(key); got != want {
			t.Errorf("validKey(%q) = %v, want %v", key, got, want)
		}
	}
}
