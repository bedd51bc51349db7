package dedup

import (
	"strconv"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		id     string
		prefix string
		n      int64
		ok     bool
	}{
		{id: ""},
		{id: "0", prefix: "", n: 0, ok: true},
		{id: "00"},
		{id: "007"},
		{id: "7", prefix: "", n: 7, ok: true},
		{id: "1234", prefix: "", n: 1234, ok: true},
		{id: "abc"},
		{id: "abc-"},
		{id: "abc0", prefix: "abc", n: 0, ok: true},
		{id: "a-01"},
		{id: "a-0", prefix: "a-", n: 0, ok: true},
		{id: "a-10", prefix: "a-", n: 10, ok: true},
		{id: "gate-7-1234", prefix: "gate-7-", n: 1234, ok: true},
		{id: "A1B2-run9-88017", prefix: "A1B2-run9-", n: 88017, ok: true},
		{id: "12-3", prefix: "12-", n: 3, ok: true},
		// The digit run is maximal, so the prefix never ends in a digit.
		{id: "a1b2", prefix: "a1b", n: 2, ok: true},
		{id: "a12", prefix: "a", n: 12, ok: true},
		{id: "a1 2", prefix: "a1 ", n: 2, ok: true},
		{id: "x-" + strings.Repeat("9", 18), prefix: "x-", n: 999999999999999999, ok: true},
		{id: "x-1" + strings.Repeat("0", 17), prefix: "x-", n: 100000000000000000, ok: true},
		{id: "x-" + strings.Repeat("9", 19)},
		{id: "x-1" + strings.Repeat("0", 18)},
		{id: "x-9223372036854775807"},
		{id: "x-99999999999999999999999999"},
		{id: "x-" + strings.Repeat("0", 18)},
		{id: "café-42", prefix: "café-", n: 42, ok: true},
		{id: "门-5", prefix: "门-", n: 5, ok: true},
		{id: "日本9", prefix: "日本", n: 9, ok: true},
		// Only ASCII digits count.
		{id: "x-٣"},
		{id: "x-１２"},
		{id: "x-٣4", prefix: "x-٣", n: 4, ok: true},
		{id: "+5", prefix: "+", n: 5, ok: true},
		{id: "-5", prefix: "-", n: 5, ok: true},
		{id: "5 ", ok: false},
	}
	for _, tt := range tests {
		prefix, n, ok := Split(tt.id)
		if prefix != tt.prefix || n != tt.n || ok != tt.ok {
			t.Errorf("Split(%q) = %q, %d, %v; want %q, %d, %v", tt.id, prefix, n, ok, tt.prefix, tt.n, tt.ok)
		}
	}
}

// FuzzSplit checks that Split is one to one: a split id is exactly its
// prefix followed by the canonical decimal counter, and the prefix does not
// end in a digit, so no other id splits the same way.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "0", "00", "007", "a1b2", "gate-7-1234", "x-9223372036854775807", "é9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		prefix, n, ok := Split(id)
		if !ok {
			if prefix != "" || n != 0 {
				t.Fatalf("Split(%q) = %q, %d, false; want \"\", 0, false", id, prefix, n)
			}
			return
		}
		if got := prefix + strconv.FormatInt(n, 10); got != id {
			t.Fatalf("Split(%q) = %q, %d: rebuilt %q, want %q", id, prefix, n, got, id)
		}
		if prefix != "" && isDigit(prefix[len(prefix)-1]) {
			t.Fatalf("Split(%q): prefix %q ends in a digit", id, prefix)
		}
		if n < 0 || n > 999999999999999999 {
			t.Fatalf("Split(%q): counter %d out of range", id, n)
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	ids := []string{"gate-7-1234", "A1B2-run9-88017", "1234", "not-a-counter", "007"}
	b.ReportAllocs()
	for b.Loop() {
		for _, id := range ids {
			Split(id)
		}
	}
}
