package oloid

import (
	"bytes"
	"context"
	"encoding/json"

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

// member is one member of a JSON object: its decoded name and its value as
// the exact bytes it was written with.
type member struct {
	name  string
	value json.RawMessage
}

// members is a JSON object as its members in order, each name once.
type members []member

// get returns the value of the member named name.
func (ms members) get(name string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// details builds an activity's details from the event: the model's own
// top-level members first, as stored (numbers keep every digit), then
// OLOID's standard members, which replace a model member of the same name:
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
func (h *Handler) details(ctx context.Context, e doorlog.Event) (json.RawMessage, error) {
	model, ok := topMembers(e.Model)
	if !ok {
		// Ingest stores JSON objects only; should a row be damaged, one
		// event must not fail the whole page.
		h.logger.WarnContext(ctx, "oloid: stored model is not a JSON object", "event_id", e.ID)
		model = nil
	}

	var std members
	add := func(name, value string) {
		std = append(std, member{name: name, value: jsonString(value)})
	}
	userID, userName := person(model)
	if userID != "" {
		add(memberUserID, userID)
	}
	if userName != "" {
		add(memberUserName, userName)
	}
	if e.DeviceID != "" {
		add(memberEndpointID, e.DeviceID)
		name, err := h.deviceName(ctx, e.DeviceID)
		if err != nil {
			return nil, err
		}
		if name != "" {
			add(memberEndpointName, name)
		}
	}
	if ip := stringValue(model, "ip_address"); ip != "" {
		add(memberIPAddress, ip)
	}

	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	write := func(m member) error {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(jsonString(m.name))
		buf.WriteByte(':')
		return json.Compact(&buf, m.value)
	}
	for _, m := range model {
		if _, clash := std.get(m.name); clash {
			continue
		}
		if err := write(m); err != nil {
			return nil, err
		}
	}
	for _, m := range std {
		if err := write(m); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
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
		var used members
		for i, entry := range array(model, "used_identifiers_list") {
			m, _ := topMembers(entry)
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

// topMembers splits a JSON object into its members, keeping each value's
// bytes. A name that occurs twice keeps its first place and its last value,
// as encoding/json reads it. ok is false when b is not a JSON object.
func topMembers(b []byte) (ms members, ok bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return nil, false
	}
	index := map[string]int{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if i, dup := index[name]; dup {
			ms[i].value = v
			continue
		}
		index[name] = len(ms)
		ms = append(ms, member{name: name, value: v})
	}
	return ms, true
}

// stringValue returns the member's value when it is a non-empty string.
func stringValue(ms members, name string) string {
	raw, ok := ms.get(name)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
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
	m, _ := topMembers(raw)
	return m
}

// array returns the elements of the member's value when it is an array.
func array(ms members, name string) []json.RawMessage {
	raw, ok := ms.get(name)
	if !ok || len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) != nil {
		return nil
	}
	return elems
}

// jsonString returns s as a JSON string, HTML characters unescaped.
func jsonString(s string) []byte {
	b, _ := encodeJSON(s) // a string always encodes
	return bytes.TrimSuffix(b, []byte("\n"))
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
