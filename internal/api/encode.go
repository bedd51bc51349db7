package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// This file writes events as the list, the export and the live stream send
// them. It is written by hand, appending to byte slices, because the export
// writes millions of events: encoding/json would reflect over every event
// and re-validate every model, and the encoding/csv writer wants a string
// per field. The model is written through as its stored bytes, never
// decoded and encoded again.

// encoder writes events rendered in one locale. It keeps scratch space
// from event to event, so it is not safe for concurrent use: each request
// makes its own.
type encoder struct {
	cat    Catalog
	locale string
	// scratch holds a rendered text or model before it is escaped into
	// the output.
	scratch []byte
}

// encoder returns an encoder rendering in locale.
func (h *Handler) encoder(locale string) *encoder {
	return &encoder{cat: h.cfg.Catalog, locale: locale}
}

// appendEvent appends the native JSON of e: {"id", "device_id", "site_id",
// "time", "key", "category", "priority", "name", "text", "model",
// "source_id"}. The model is checked once here.
func (enc *encoder) appendEvent(buf []byte, e *doorlog.Event) []byte {
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, e.ID)
	buf = append(buf, `,"device_id":`...)
	buf = appendNullableString(buf, e.DeviceID)
	buf = append(buf, `,"site_id":`...)
	buf = appendNullableString(buf, e.SiteID)
	buf = append(buf, `,"time":"`...)
	buf = appendTime(buf, e.Time, time.UTC)
	buf = append(buf, `","key":`...)
	buf = appendJSONString(buf, e.Key)
	buf = append(buf, `,"category":`...)
	buf = appendJSONString(buf, string(e.Category))
	buf = append(buf, `,"priority":`...)
	buf = appendJSONString(buf, string(e.Priority))
	buf = append(buf, `,"name":`...)
	buf = appendJSONString(buf, enc.cat.Name(enc.locale, e.Key))
	buf = append(buf, `,"text":`...)
	enc.scratch = enc.cat.AppendText(enc.scratch[:0], enc.locale, e.Key, e.Model)
	buf = appendJSONString(buf, enc.scratch)
	buf = append(buf, `,"model":`...)
	buf = appendModel(buf, e.Model)
	if e.SourceID != "" {
		buf = append(buf, `,"source_id":`...)
		buf = appendJSONString(buf, e.SourceID)
	}
	return append(buf, '}')
}

// csvColumns are the columns of a CSV export, in order.
var csvColumns = []string{"id", "time", "site_id", "site_name", "device_id", "device_name", "key", "category", "priority", "name", "text", "source_id", "model"}

// csvFormat is how a CSV export is written: its separator (',' or ';',
// which spreadsheets in many locales expect), and the names of the sites
// and devices, written beside their ids so that a person reading the file
// need not look them up.
type csvFormat struct {
	sep         byte
	siteNames   map[string]string
	deviceNames map[string]string
}

// appendCSVHeader appends the first record of a CSV export.
func (f *csvFormat) appendHeader(buf []byte) []byte {
	for i, c := range csvColumns {
		if i > 0 {
			buf = append(buf, f.sep)
		}
		buf = append(buf, c...)
	}
	return append(buf, '\r', '\n')
}

// appendCSV appends e as a record of the CSV export, with its time in loc:
// the fields of csvColumns, each neutralised against formulas and quoted as
// appendCSVField does.
func (enc *encoder) appendCSV(buf []byte, e *doorlog.Event, loc *time.Location, f *csvFormat) []byte {
	sep := f.sep
	enc.scratch = appendTime(enc.scratch[:0], e.Time, loc)
	buf = appendCSVField(buf, e.ID, sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, enc.scratch, sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, e.SiteID, sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, f.siteNames[e.SiteID], sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, e.DeviceID, sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, f.deviceNames[e.DeviceID], sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, e.Key, sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, string(e.Category), sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, string(e.Priority), sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, enc.cat.Name(enc.locale, e.Key), sep)
	buf = append(buf, sep)
	enc.scratch = enc.cat.AppendText(enc.scratch[:0], enc.locale, e.Key, e.Model)
	buf = appendCSVField(buf, enc.scratch, sep)
	buf = append(buf, sep)
	buf = appendCSVField(buf, e.SourceID, sep)
	buf = append(buf, sep)
	enc.scratch = appendModel(enc.scratch[:0], e.Model)
	buf = appendCSVField(buf, enc.scratch, sep)
	return append(buf, '\r', '\n')
}

// appendCSVField appends one cell of the export. A field that starts with
// '=', '+', '-', '@', a tab or a carriage return, which a spreadsheet would
// take for a formula (a device's source_id or model text can be
// =HYPERLINK(…)), gets a single quote in front, as OWASP recommends for
// CSV injection: spreadsheets then show it as text. The cell is then
// written as encoding/csv's Writer (comma ',', UseCRLF) writes it: quoted
// when it holds a quote, a comma, a line break, starts with a space or is
// `\.`, quotes doubled, "\n" written as "\r\n" and a "\r" dropped inside
// quotes.
func appendCSVField[T string | []byte](buf []byte, field T, sep byte) []byte {
	formula := len(field) > 0 && csvFormulaStart(field[0])
	if formula {
		// The quote is the cell's first character, so a leading space
		// or `\.` no longer needs quoting; the rest still does.
		if !csvSpecial(field, sep) {
			buf = append(buf, '\'')
			return append(buf, field...)
		}
		buf = append(buf, '"', '\'')
	} else {
		if !csvNeedsQuotes(field, sep) {
			return append(buf, field...)
		}
		buf = append(buf, '"')
	}
	start := 0
	for i := 0; i < len(field); i++ {
		c := field[i]
		if c != '"' && c != '\r' && c != '\n' {
			continue
		}
		buf = append(buf, field[start:i]...)
		start = i + 1
		switch c {
		case '"':
			buf = append(buf, '"', '"')
		case '\n':
			buf = append(buf, '\r', '\n')
		}
	}
	buf = append(buf, field[start:]...)
	return append(buf, '"')
}

// csvFormulaStart reports whether a cell starting with c is one a
// spreadsheet may evaluate: OWASP's list for CSV injection.
func csvFormulaStart(c byte) bool {
	return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'
}

// csvSpecial reports whether field holds a byte that needs quoting
// wherever it is: a line break, a quote or the separator.
func csvSpecial[T string | []byte](field T, sep byte) bool {
	for i := 0; i < len(field); i++ {
		if c := field[i]; c == '\n' || c == '\r' || c == '"' || c == sep {
			return true
		}
	}
	return false
}

// csvNeedsQuotes is encoding/csv's fieldNeedsQuotes for the separator.
func csvNeedsQuotes[T string | []byte](field T, sep byte) bool {
	if len(field) == 0 {
		return false
	}
	if len(field) == 2 && field[0] == '\\' && field[1] == '.' {
		return true
	}
	if csvSpecial(field, sep) {
		return true
	}
	if c := field[0]; c < utf8.RuneSelf {
		return unicode.IsSpace(rune(c))
	}
	r, _ := utf8.DecodeRuneInString(string(field[:min(len(field), utf8.UTFMax)]))
	return unicode.IsSpace(r)
}

// timeLayout is RFC 3339 with exactly three fractional digits: the store
// keeps milliseconds, and a fixed width sorts as text.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendTime appends t in loc as RFC 3339 with milliseconds ("Z" for a
// zero offset), exactly as t.In(loc).AppendFormat(buf, timeLayout) does,
// without interpreting the layout for every event.
func appendTime(buf []byte, t time.Time, loc *time.Location) []byte {
	t = t.In(loc)
	year, month, day := t.Date()
	_, offset := t.Zone()
	// As the time package writes Z07:00: whole minutes, truncated, and a
	// sign from them.
	zone := offset / 60
	sign := byte('+')
	if zone < 0 {
		sign, zone = '-', -zone
	}
	if year < 0 || year > 9999 || zone >= 100*60 {
		return t.AppendFormat(buf, timeLayout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	buf = append(buf,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	if offset == 0 {
		return append(buf, 'Z')
	}
	h, m := zone/60, zone%60
	return append(buf, sign, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
}

// appendModel appends a stored model as it is. Ingest stores compact JSON
// objects; a model that is empty, or not valid JSON (written by another
// program), is written as {} so that one bad row cannot break a whole
// response or export, and one with line breaks is compacted so that it
// stays on its NDJSON line.
func appendModel(buf []byte, model []byte) []byte {
	if len(model) == 0 || !catalog.ValidJSON(model) {
		return append(buf, "{}"...)
	}
	if !slices.ContainsFunc(model, func(c byte) bool { return c == '\n' || c == '\r' }) {
		return append(buf, model...)
	}
	var b bytes.Buffer
	_ = json.Compact(&b, model) // model is valid, so this cannot fail
	return append(buf, b.Bytes()...)
}

// appendNullableString appends s as a JSON string, or null when empty.
func appendNullableString(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, "null"...)
	}
	return appendJSONString(buf, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping, except that \b and \f are written as \u0008 and
// \u000c: quotes, backslashes and control characters escaped, invalid UTF-8
// replaced by U+FFFD, and U+2028 and U+2029 escaped so that the output is
// also valid JavaScript.
func appendJSONString[T string | []byte](buf []byte, s T) []byte {
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
		// A two-byte sequence (Cyrillic, most accented Latin letters) is
		// always written as it is once it is valid UTF-8.
		if c >= 0xC2 && c <= 0xDF && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			i += 2
			continue
		}
		// Only the few bytes of one rune are made a string, which needs
		// no allocation for a byte slice.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
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
