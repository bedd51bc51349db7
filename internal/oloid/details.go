package oloid

import (
	"bytes"
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// OLOID's standard members of an activity's details, in the order they are
// written after the model's own members.
const (
	memberUserID       = "userId"
	memberUserName     = "userName"
	memberEndpointID   = "endpointId"
	memberEndpointName = "endpointName"
	memberIPAddress    = "ipAddress"
)

// This file maps a stored model to an activity's details. It runs for every
// activity of every page, so it reads the model's bytes in place, without
// encoding/json's decoder: the model is checked once with catalog.ValidJSON, then
// split into members by a scanner that may assume valid JSON. Values are
// written through as their stored bytes (compacted), so numbers keep every
// digit. What it writes is byte for byte what encoding/json wrote before,
// which the tests check against that implementation.

// member is one member of a JSON object: its decoded name and its value as
// the exact bytes it was written with.
type member struct {
	name  []byte
	value []byte
}

// members is a JSON object as its members in order, each name once.
type members []member

// get returns the value of the member named name.
func (ms members) get(name string) ([]byte, bool) {
	for i := range ms {
		if string(ms[i].name) == name {
			return ms[i].value, true
		}
	}
	return nil, false
}

// stdMember is one of OLOID's standard members, with its value.
type stdMember struct {
	name, value string
}

// detailsWriter writes the details of the activities of one answer,
// reusing its scratch space from activity to activity. It is not safe for
// concurrent use.
type detailsWriter struct {
	h     *Handler
	model members
	std   []stdMember
}

// appendDetails appends the details of e to dst: the model's own top-level
// members first, as stored (numbers keep every digit), then OLOID's
// standard members, which replace a model member of the same name:
//
//   - userId: the identifier's number ("number" when the model also has an
//     identifier "type", else "identifier_number", else that of the
//     used_identifiers_list entry userName comes from), as a string;
//   - userName: "owner", "user_name", "info.user.name", or the first
//     "user_name" in "used_identifiers_list";
//   - endpointId and endpointName: the device's id and name, for device
//     events;
//   - ipAddress: "ip_address".
//
// A standard member whose value is unknown is left out, not null.
func (d *detailsWriter) appendDetails(ctx context.Context, dst []byte, e *doorlog.Event) ([]byte, error) {
	var ok bool
	d.model, ok = splitObject(d.model[:0], e.Model)
	if !ok {
		// Ingest stores JSON objects only; should a row be damaged, one
		// event must not fail the whole page.
		d.h.logger.WarnContext(ctx, "oloid: stored model is not a JSON object", "event_id", e.ID)
		d.model = d.model[:0]
	}
	deviceName := ""
	if e.DeviceID != "" {
		var err error
		if deviceName, err = d.h.deviceName(ctx, e.DeviceID); err != nil {
			return nil, err
		}
	}
	return d.appendMembers(dst, e.DeviceID, deviceName), nil
}

// appendMembers writes the details of d.model for an event of the device
// deviceID (none when "") named deviceName.
func (d *detailsWriter) appendMembers(dst []byte, deviceID, deviceName string) []byte {
	std := d.std[:0]
	userID, userName := person(d.model)
	if userID != "" {
		std = append(std, stdMember{memberUserID, userID})
	}
	if userName != "" {
		std = append(std, stdMember{memberUserName, userName})
	}
	if deviceID != "" {
		std = append(std, stdMember{memberEndpointID, deviceID})
		if deviceName != "" {
			std = append(std, stdMember{memberEndpointName, deviceName})
		}
	}
	if ip := stringValue(d.model, "ip_address"); ip != "" {
		std = append(std, stdMember{memberIPAddress, ip})
	}
	d.std = std

	dst = append(dst, '{')
	first := true
	for _, m := range d.model {
		if isStd(std, m.name) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, m.name)
		dst = append(dst, ':')
		dst = appendCompact(dst, m.value)
	}
	for _, m := range std {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, m.name)
		dst = append(dst, ':')
		dst = appendString(dst, m.value)
	}
	return append(dst, '}')
}

func isStd(std []stdMember, name []byte) bool {
	for _, m := range std {
		if m.name == string(name) {
			return true
		}
	}
	return false
}

// person finds who an event's model names: the identifier's number and the
// person's name, each "" when the model does not say.
func person(model members) (id, name string) {
	if _, hasType := model.get("type"); hasType {
		id = scalarText(model, "number")
	}
	if id == "" {
		id = scalarText(model, "identifier_number")
	}
	name = stringValue(model, "owner")
	if name == "" {
		name = stringValue(model, "user_name")
	}
	if name == "" {
		if info := object(model, "info"); info != nil {
			name = stringValue(object(info, "user"), "name")
		}
	}
	if name == "" || id == "" {
		// The entry that names a person, or else the first one.
		raw, _ := model.get("used_identifiers_list")
		var used members
		for i, entry := range arrayElements(raw) {
			m, _ := splitObject(nil, entry)
			if i == 0 || stringValue(m, "user_name") != "" {
				used = m
			}
			if stringValue(m, "user_name") != "" {
				break
			}
		}
		if name == "" {
			name = stringValue(used, "user_name")
		}
		if id == "" {
			id = scalarText(used, "identifier_number")
		}
	}
	return id, name
}

// splitObject appends the members of the JSON object b to ms, keeping each
// value's bytes. A name that occurs twice keeps its first place and its
// last value, as encoding/json reads it. ok is false when b is not a JSON
// object.
func splitObject(ms members, b []byte) (members, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !catalog.ValidJSON(b) {
		return ms, false
	}
	base := len(ms)
	i := skipSpace(b, 1)
	for b[i] != '}' {
		end := skipString(b, i)
		name := unquote(b[i:end])
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the ':'
		end = skipValue(b, i)
		value := b[i:end]
		dup := false
		for j := base; j < len(ms); j++ {
			if bytes.Equal(ms[j].name, name) {
				ms[j].value, dup = value, true
				break
			}
		}
		if !dup {
			ms = append(ms, member{name: name, value: value})
		}
		i = skipSpace(b, end)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return ms, true
}

// arrayElements returns the elements of raw when it is a JSON array (of a
// model already checked to be valid), else nothing.
func arrayElements(raw []byte) [][]byte {
	if len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var elems [][]byte
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != ']' {
		end := skipValue(raw, i)
		elems = append(elems, raw[i:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return elems
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the end of the string token starting at b[i], in
// valid JSON.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the end of the value starting at b[i], in valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	// A number or a literal.
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// unquote decodes a string token of valid JSON as encoding/json does. One
// without escapes in valid UTF-8, the usual case, is returned in place.
func unquote(tok []byte) []byte {
	s := tok[1 : len(tok)-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s
	}
	var out string
	if json.Unmarshal(tok, &out) != nil {
		return nil // unreachable: the token is valid
	}
	return []byte(out)
}

// stringValue returns the member's value when it is a non-empty string.
func stringValue(ms members, name string) string {
	raw, ok := ms.get(name)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	return string(unquote(raw))
}

// scalarText returns the member's value as text when it is a non-empty
// string or a number, the number written exactly as stored (12345678901234567890
// stays so).
func scalarText(ms members, name string) string {
	raw, ok := ms.get(name)
	if !ok || len(raw) == 0 {
		return ""
	}
	if c := raw[0]; c == '-' || (c >= '0' && c <= '9') {
		return string(raw)
	}
	return stringValue(ms, name)
}

// object returns the member's value when it is an object.
func object(ms members, name string) members {
	raw, ok := ms.get(name)
	if !ok {
		return nil
	}
	m, _ := splitObject(nil, raw)
	return m
}

// appendCompact appends the valid JSON value v without the white space
// between its tokens, as json.Compact does (without escaping anything).
func appendCompact(dst, v []byte) []byte {
	if !bytes.ContainsAny(v, " \t\n\r") {
		return append(dst, v...)
	}
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inString:
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, v[i])
			case '"':
				inString = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			dst = append(dst, c)
			inString = c == '"'
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as encoding/json writes a string without HTML
// escaping: quotes, backslashes and control characters escaped (\b, \f,
// \n, \r and \t by name), invalid UTF-8 replaced by \ufffd, and U+2028 and
// U+2029 escaped.
func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		// Only the few bytes of one rune are made a string, which needs
		// no allocation for a byte slice.
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// deviceName returns a device's name, from the cache or the store; "" when
// the device is not found. Devices never change, so a name once read is
// kept.
func (h *Handler) deviceName(ctx context.Context, id string) (string, error) {
	h.deviceMu.RLock()
	name, ok := h.deviceNames[id]
	h.deviceMu.RUnlock()
	if ok {
		return name, nil
	}
	dev, err := h.store.FindDevice(ctx, id)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
			return "", nil
		}
		return "", err
	}
	h.deviceMu.Lock()
	h.deviceNames[id] = dev.Name
	h.deviceMu.Unlock()
	return dev.Name, nil
}
