package codec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/doorlog/doorlog/internal/codec/internal/samples"
)

// dictV1SHA256 pins dictionary version 1. Rows compressed with tag 0x01
// need exactly these bytes to be read back: if this test fails, restore
// dict_v1.bin; never update the hash. A new dictionary is a new file with a
// new tag.
const dictV1SHA256 = "857e6d165f5d20bbf8dfe79e33a0f97cd389eb7a7fbbbe549ecf1193f8165bda"

func TestDictionaryPinned(t *testing.T) {
	sum := sha256.Sum256([]byte(dictV1))
	if got := hex.EncodeToString(sum[:]); got != dictV1SHA256 {
		t.Fatalf("SHA-256 of dict_v1.bin: got %s, want %s; dictionary v1 must never change once shipped (rows stored with it would no longer decode)", got, dictV1SHA256)
	}
}

// TestDecodeV1 decodes stored forms written by version 1, which must read
// back forever, whatever the encoder of the day writes.
func TestDecodeV1(t *testing.T) {
	tests := []struct {
		model, stored string // stored in hex
	}{
		{`{"lock":1}`, "010a190a"},
		{`{"apartment_address":"Flat 36","lock":1,"number":13413393,"owner":"Samuel Patel","type":"card"}`,
			"015f6aab0016a20f42aa001433343133333949f3057acd3499dd391e007d"},
		{`{"info":{"destination":{"id":6,"short_name":"6"},"lift":{"id":2,"short_name":"Lift B"},"user":{"link_id":null,"name":"Arthur Roberts"}}}`,
			"0188012d47564201165c09393d16100b3d87490f3a5e01498a765e012ef0021073227d7d7d"},
		{`{"owner":{"name":"Olena Kovalenko","flat":"112"},"card":"0012345678","lock":1}`,
			"014e007b11bd007b11fa322407186b6f222c22666c85db003149882d11203030313233343536376909094e"},
		{`{"name":"Олена Коваленко","note":"ключ 🔑"}`,
			"013f007b11f148d09ed0bbd0b5d0bdd0b020d09ad0bed0b2d0b00d111cbad0be222c226e6f054838d0bad0bbd18ed18720f09f9491227d"},
	}
	c := newCodec(t)
	for _, tt := range tests {
		stored, err := hex.DecodeString(tt.stored)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(nil, stored)
		if err != nil || string(got) != tt.model {
			t.Errorf("Decode(%s): got %q, %v; want %q, nil", tt.stored, got, err, tt.model)
		}
	}
}

// TestTags checks that no format tag can start a JSON text, which is how
// Decode tells a compressed model from one stored as is.
func TestTags(t *testing.T) {
	for _, tag := range []byte{tagS2V1} {
		if strings.IndexByte("{ \t\r\n", tag) >= 0 {
			t.Errorf("tag %#02x can start a JSON object", tag)
		}
	}
}

// roundTrip encodes model, checks that it decodes back, and returns the
// stored form.
func roundTrip(tb testing.TB, c *Codec, model []byte) []byte {
	tb.Helper()
	stored := c.Encode(nil, model)
	got, err := c.Decode(nil, stored)
	if err != nil {
		tb.Fatalf("Decode(Encode(%.60q)): got error %v, want the model", model, err)
	}
	if !bytes.Equal(got, model) {
		tb.Fatalf("Decode(Encode(model)): got %.60q, want %.60q", got, model)
	}
	return stored
}

// stored says how Encode stored a model.
type stored int

const (
	asIs       stored = iota // the model itself
	compressed               // a tag and compressed bytes
)

func (s stored) String() string { return [...]string{"as is", "compressed"}[s] }

func storedAs(b []byte) stored {
	if isObject(b) {
		return asIs
	}
	return compressed
}

func TestRoundTrip(t *testing.T) {
	big := bigModel(64 << 10)
	tests := []struct {
		name  string
		model []byte
		want  stored
		// maxLen, when set, is the most bytes the stored form may take.
		maxLen int
	}{
		{"empty object", []byte("{}"), asIs, 2},
		{"lock", []byte(`{"lock":1}`), compressed, 4},
		{"camera light", []byte(`{"state":"off"}`), compressed, 5},
		{"card grant", []byte(`{"apartment_address":"Flat 36","lock":1,"number":13413393,"owner":"Samuel Patel","type":"card"}`), compressed, 35},
		{"nested owner", []byte(`{"owner":{"name":"Olena Kovalenko","flat":"112"},"card":"0012345678","lock":1}`), compressed, 60},
		{"unicode", []byte(`{"owner":"Олена Коваленко","apartment_address":"Квартира 112","note":"🔑 ключ","lock":1}`), compressed, 0},
		{"escaped unicode", []byte(`{"owner":"\u041e\u043b\u0435\u043d\u0430","lock":1}`), compressed, 0},
		{"whitespace before", []byte(" \n\t\r{\"lock\":1}"), compressed, 0},
		{"pretty printed", []byte("{\n  \"lock\": 1,\n  \"state\": \"on\"\n}\n"), compressed, 0},
		{"big", big, compressed, len(big) / 4},
		{"uncompressible", uncompressible(200), asIs, 0},
		{"uncompressible with whitespace", append([]byte("  "), uncompressible(100)...), asIs, 0},
		{"bigger than a model may be", bigModel(maxModelLen + 1), asIs, 0},
		// Not JSON objects: never what the store passes, but they must
		// still round-trip, compressed so that Decode cannot mistake
		// them for a model stored as is.
		{"empty", []byte{}, compressed, 0},
		{"array", []byte(`[1,2,3]`), compressed, 0},
		{"tag byte", []byte{tagS2V1, 0}, compressed, 0},
		{"only whitespace", []byte("  "), compressed, 0},
	}
	c := newCodec(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := roundTrip(t, c, tt.model)
			if got := storedAs(s); got != tt.want {
				t.Errorf("stored %s, want %s", got, tt.want)
			}
			if isObject(tt.model) && len(s) > len(tt.model) {
				t.Errorf("stored form of a JSON object: got %d bytes, want at most the model's %d", len(s), len(tt.model))
			}
			if tt.maxLen > 0 && len(s) > tt.maxLen {
				t.Errorf("stored form: got %d bytes, want at most %d", len(s), tt.maxLen)
			}
		})
	}
}

// bigModel returns a JSON object of about n bytes, like a device that sends
// a long list of identifiers.
func bigModel(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := []byte(`{"used_identifiers_list":[`)
	for i := 0; len(b) < n-2; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"identifier_number":"%07d","auth_type":"card","user_name":"User %d"}`, rng.IntN(10_000_000), i)
	}
	return append(b, "]}"...)
}

// uncompressible returns a JSON object with n random base64 bytes.
func uncompressible(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := []byte(`{"k":"`)
	for range n {
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	}
	return append(b, `"}`...)
}

// TestSimModels round-trips the simulator's models and checks the ratio
// the disk target counts on.
func TestSimModels(t *testing.T) {
	c := newCodec(t)
	models := simModels(t, 20_000)
	var in, out int
	for _, m := range models {
		s := roundTrip(t, c, m)
		in += len(m)
		out += len(s)
	}
	ratio := float64(out) / float64(in)
	t.Logf("%d simulated models: %.1f bytes -> %.1f bytes stored on average (%.3f)",
		len(models), float64(in)/float64(len(models)), float64(out)/float64(len(models)), ratio)
	// The dictionary gives about 0.31; a change that loses a sixth of
	// that is a regression.
	if ratio > 0.36 {
		t.Errorf("stored bytes per model byte: got %.3f, want at most 0.36", ratio)
	}
}

// TestCatalogModels round-trips models with every field of every catalog
// key, including keys the simulator never sends.
func TestCatalogModels(t *testing.T) {
	c := newCodec(t)
	models, err := samples.Catalog(testSeed, 5)
	if err != nil {
		t.Fatal(err)
	}
	var in, out int
	for _, m := range models {
		s := roundTrip(t, c, m)
		in += len(m)
		out += len(s)
	}
	ratio := float64(out) / float64(in)
	t.Logf("%d catalog models: %.1f bytes -> %.1f bytes stored on average (%.3f)",
		len(models), float64(in)/float64(len(models)), float64(out)/float64(len(models)), ratio)
	if ratio > 0.5 {
		t.Errorf("stored bytes per model byte: got %.3f, want at most 0.5", ratio)
	}
}

// TestAppends checks that Encode and Decode append to dst and leave what
// it holds alone.
func TestAppends(t *testing.T) {
	c := newCodec(t)
	for _, model := range [][]byte{[]byte(`{"lock":1}`), []byte("{}"), uncompressible(50)} {
		alone := c.Encode(nil, model)
		enc := c.Encode([]byte("prefix"), model)
		if want := append([]byte("prefix"), alone...); !bytes.Equal(enc, want) {
			t.Errorf("Encode onto a prefix: got %q, want %q", enc, want)
		}
		dec, err := c.Decode([]byte("prefix"), alone)
		if want := append([]byte("prefix"), model...); err != nil || !bytes.Equal(dec, want) {
			t.Errorf("Decode onto a prefix: got %q, %v; want %q, nil", dec, err, want)
		}
	}
}

// TestDecodeAsIs checks that rows written before the codec existed come
// back unchanged, whitespace and all.
func TestDecodeAsIs(t *testing.T) {
	c := newCodec(t)
	for _, src := range []string{"{}", `{"lock":1}`, " {\"lock\":1}", "\n\t\r {}", "{not even json"} {
		got, err := c.Decode(nil, []byte(src))
		if err != nil || string(got) != src {
			t.Errorf("Decode(%q): got %q, %v; want %q, nil", src, got, err, src)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name string
		src  []byte
	}{
		{"empty", nil},
		{"only whitespace", []byte(" \n")},
		{"whitespace then tag", []byte(" \x01\x00")},
		{"unknown tag", []byte{0x7f, 0x0a, 0x19, 0x0a}},
		{"json array", []byte("[1]")},
		{"tag alone", []byte{tagS2V1}},
		{"bad length", []byte{tagS2V1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"length past the limit", []byte{tagS2V1, 0x81, 0x80, 0x80, 0x08, 0x00}},
		{"length without data", []byte{tagS2V1, 0x0a}},
		{"more data than the length", []byte{tagS2V1, 0x01, 0x00, '{', 0x00, '}'}},
		{"copy before the dictionary", []byte{tagS2V1, 0x04, 0x0e, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := c.Decode(dst, tt.src)
			if err == nil {
				t.Fatalf("Decode(%x): got %q, nil error; want an error", tt.src, got)
			}
			if string(got) != "keep" {
				t.Errorf("Decode(%x) with an error: got dst %q, want it unchanged %q", tt.src, got, "keep")
			}
		})
	}
}

// TestDecodeTruncated checks that every strict prefix of a compressed model
// is an error, not a shorter model.
func TestDecodeTruncated(t *testing.T) {
	c := newCodec(t)
	for _, m := range simModels(t, 200) {
		s := c.Encode(nil, m)
		if storedAs(s) != compressed {
			continue
		}
		for n := range len(s) {
			if got, err := c.Decode(nil, s[:n]); err == nil {
				t.Fatalf("Decode of %d of the %d bytes of %s: got %q, nil error; want an error", n, len(s), m, got)
			}
		}
	}
}

// TestDecodeDamaged flips every bit of some stored models: Decode may
// return another model or an error, but must not panic.
func TestDecodeDamaged(t *testing.T) {
	c := newCodec(t)
	for _, m := range simModels(t, 50) {
		s := c.Encode(nil, m)
		for i := range s {
			for bit := range 8 {
				d := bytes.Clone(s)
				d[i] ^= 1 << bit
				_, _ = c.Decode(nil, d)
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	c := newCodec(t)
	model := []byte(`{"apartment_address":"Flat 36","lock":1,"number":13413393,"owner":"Samuel Patel","type":"card"}`)
	s := c.Encode(nil, model)
	dst := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { dst = c.Encode(dst[:0], model) }); n != 0 {
		t.Errorf("Encode allocations: got %v, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { dst, _ = c.Decode(dst[:0], s) }); n != 0 {
		t.Errorf("Decode allocations: got %v, want 0", n)
	}
}

// TestConcurrent uses one Codec from several goroutines; run it with -race.
func TestConcurrent(t *testing.T) {
	c := newCodec(t)
	models := simModels(t, 500)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var s, back []byte
			for _, m := range models {
				s = c.Encode(s[:0], m)
				var err error
				if back, err = c.Decode(back[:0], s); err != nil || !bytes.Equal(back, m) {
					t.Errorf("concurrent round trip of %s: got %q, %v", m, back, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzRoundTrip checks that Decode(Encode(x)) == x for any input (JSON
// objects, which the store passes, and anything else), that a JSON object
// is never stored bigger than it is, and that Decode of any bytes returns
// a model or an error without panicking.
func FuzzRoundTrip(f *testing.F) {
	for _, m := range samples.Sim(testSeed, 40) {
		f.Add(m)
	}
	for _, s := range []string{"{}", " {\"lock\":1}", `{"a":"Олена 🔑"}`, "", "[]", "\x01\x0a\x19\x0a", "\x01\x04\x0e\xff\xff"} {
		f.Add([]byte(s))
	}
	f.Add(uncompressible(100))
	c, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, x []byte) {
		s := c.Encode(nil, x)
		got, err := c.Decode(nil, s)
		if err != nil || !bytes.Equal(got, x) {
			t.Fatalf("Decode(Encode(%q)): got %q, %v; want the input, nil", x, got, err)
		}
		if json.Valid(x) && isObject(x) && len(s) > len(x) {
			t.Errorf("stored form of a JSON object: got %d bytes, want at most the object's %d", len(s), len(x))
		}
		_, _ = c.Decode(nil, x) // x as a stored form: any result but a panic
	})
}
