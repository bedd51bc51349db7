// Package cleanjson holds the rules doorlog keeps for the JSON text it
// stores and serves, so that a strict JSON parser (one that follows RFC 8259
// section 8.1 and RFC 7493, as browsers' TextDecoder, Rust's serde_json or
// Go's json/v2 do) reads every response: strings are valid UTF-8 with no
// lone UTF-16 surrogate escape (such as \ud800 without its low half), and
// objects and arrays nest at most MaxDepth deep.
//
// The functions take JSON that encoding/json already found valid; on other
// input they still return without panicking, but their answers mean
// nothing.
package cleanjson

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is how deep objects and arrays may nest in a stored model, the
// model object itself being level 1. Common parsers stop at 64 (.NET's
// System.Text.Json) to 128 (serde_json) levels, or at their stack; 32
// leaves room for an envelope around the model and is far beyond what an
// access-control event needs.
const MaxDepth = 32

// replacement is U+FFFD REPLACEMENT CHARACTER in UTF-8, and escaped.
const (
	replacement       = "\uFFFD"
	replacementEscape = `\ufffd`
)

// IsClean reports whether b holds only valid UTF-8 and no lone surrogate
// escape, so that Repair would return it unchanged. It is the check of the
// ingest fast path: utf8.Valid reads ASCII eight bytes at a time, and the
// escapes are found with bytes.IndexByte.
func IsClean(b []byte) bool {
	return utf8.Valid(b) && !hasLoneSurrogate(b)
}

// hasLoneSurrogate reports whether b holds a \u escape of a surrogate
// (U+D800 to U+DFFF) that is not a high one followed by a low one.
func hasLoneSurrogate(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 || i+1 >= len(b) {
			return false
		}
		// Outside strings valid JSON has no backslash, and inside one the
		// byte after a backslash is the escaped character: skipping it
		// keeps an escaped backslash from reading as the start of \u.
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch r := hex4(b[i+2 : i+6]); {
			case isHighSurrogate(r) && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' && isLowSurrogate(hex4(b[i+8:i+12])):
				b = b[i+12:]
				continue
			case isSurrogate(r):
				return true
			}
		}
		b = b[i+2:]
	}
}

// Repair returns b with every invalid UTF-8 byte replaced by U+FFFD and
// every lone surrogate escape replaced by \ufffd; b itself when it is clean
// already. Both replacements are what encoding/json (and JavaScript's
// JSON.parse, for the escapes) make of those strings when they read them,
// so the model means to a lenient reader exactly what it meant before, and
// a strict reader can now read it. Neither makes the text shorter.
func Repair(b []byte) []byte {
	if IsClean(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/8+8)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\' && i+1 < len(b) && b[i+1] == 'u' && i+6 <= len(b):
			r := hex4(b[i+2 : i+6])
			switch {
			case isHighSurrogate(r) && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' && isLowSurrogate(hex4(b[i+8:i+12])):
				out = append(out, b[i:i+12]...)
				i += 12
			case isSurrogate(r):
				out = append(out, replacementEscape...)
				i += 6
			default:
				out = append(out, b[i:i+6]...)
				i += 6
			}
		case c == '\\' && i+1 < len(b):
			out = append(out, c, b[i+1])
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = append(out, replacement...)
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
	return out
}

// Fault returns the offset in b of the first invalid UTF-8 byte or lone
// surrogate escape, and which of the two it is; -1 and "" when b is clean.
// The management API names it in its 400 answer.
func Fault(b []byte) (int, string) {
	if IsClean(b) {
		return -1, ""
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\' && i+1 < len(b) && b[i+1] == 'u' && i+6 <= len(b):
			r := hex4(b[i+2 : i+6])
			switch {
			case isHighSurrogate(r) && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' && isLowSurrogate(hex4(b[i+8:i+12])):
				i += 12
			case isSurrogate(r):
				return i, "a lone UTF-16 surrogate escape"
			default:
				i += 6
			}
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, "a byte that is not valid UTF-8"
			}
			i += size
		}
	}
	return -1, ""
}

// Deeper reports whether objects and arrays nest in b more than limit levels
// deep. Brackets inside strings do not count.
func Deeper(b []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			if depth++; depth > limit {
				return true
			}
		case '}', ']':
			depth--
		case '"':
			// Skip the string: its end is the next quote not escaped.
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return false
}

// MayOverflow reports whether the JSON number num could be beyond the
// largest 64-bit float (about 1.8e308), cheaply, so that a caller scanning
// text checks no further the numbers that cannot be: those of at most 200
// characters whose exponent, if any, has at most two digits (at most 200
// digits times 10^99 is well below the largest float).
func MayOverflow(num []byte) bool {
	if len(num) > 200 {
		return true
	}
	e := bytes.IndexAny(num, "eE")
	if e < 0 {
		return false
	}
	digits := 0
	for _, c := range num[e+1:] {
		if '0' <= c && c <= '9' {
			digits++
		}
	}
	return digits > 2
}

// Overflow returns the offset in b (valid JSON) of the first number beyond
// the largest 64-bit float (1e999999), or -1. JavaScript reads such a
// number as Infinity and Go's encoding/json refuses it, so a page holding
// one would break strict clients as invalid text does. Numbers in strings
// do not count.
func Overflow(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case c == '-' || '0' <= c && c <= '9':
			j := i
			for j < len(b) && strings.IndexByte("+-.0123456789eE", b[j]) >= 0 {
				j++
			}
			if num := b[i:j]; MayOverflow(num) {
				if _, err := strconv.ParseFloat(string(num), 64); err != nil {
					return i
				}
			}
			i = j - 1
		}
	}
	return -1
}

// hex4 returns the value of four hex digits, or -1 when they are not.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

func isSurrogate(r rune) bool     { return 0xD800 <= r && r <= 0xDFFF }
func isHighSurrogate(r rune) bool { return 0xD800 <= r && r <= 0xDBFF }
func isLowSurrogate(r rune) bool  { return 0xDC00 <= r && r <= 0xDFFF }
