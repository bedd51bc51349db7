package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
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
}

// FuzzDecode checks the fast decoder against json.Unmarshal: whatever it
// accepts, json.Unmarshal must read the same way, and a model it calls
// compact must be what json.Compact makes of it.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var fast Item
		compact, ok := newDecoder(len(raw)).decode(raw, &fast)
		if !ok {
			return
		}
		var slow Item
		if err := json.Unmarshal(raw, &slow); err != nil {
			t.Fatalf("decoder accepted %q, json.Unmarshal refused it: %v", raw, err)
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
	})
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
