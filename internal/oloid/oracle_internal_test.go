package oloid

import (
	"bytes"
	"encoding/json"
)

// This file keeps the encoding/json implementation of the details mapping
// and of the answer, as it was before they were written by hand, so that
// the tests can check the two agree byte for byte.

// oldDetails is the details mapping as it was written with encoding/json
// (json.Decoder tokens, json.Compact per member): the oracle the hand-made
// encoder is checked against. deviceName is the device's name.
func oldDetails(model []byte, deviceID, deviceName string) (json.RawMessage, error) {
	members, ok := oldTopMembers(model)
	if !ok {
		members = nil
	}

	var std oldMembers
	add := func(name, value string) {
		std = append(std, oldMember{name: name, value: oldJSONString(value)})
	}
	userID, userName := oldPerson(members)
	if userID != "" {
		add(memberUserID, userID)
	}
	if userName != "" {
		add(memberUserName, userName)
	}
	if deviceID != "" {
		add(memberEndpointID, deviceID)
		if deviceName != "" {
			add(memberEndpointName, deviceName)
		}
	}
	if ip := oldStringValue(members, "ip_address"); ip != "" {
		add(memberIPAddress, ip)
	}

	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	write := func(m oldMember) error {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(oldJSONString(m.name))
		buf.WriteByte(':')
		return json.Compact(&buf, m.value)
	}
	for _, m := range members {
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

// oldEncodeJSON is encodeJSON as it was: encoding/json without HTML
// escaping.
func oldEncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// oldMember is one oldMember of a JSON object: its decoded name and its value as
// the exact bytes it was written with.
type oldMember struct {
	name  string
	value json.RawMessage
}

// oldMembers is a JSON object as its oldMembers in order, each name once.
type oldMembers []oldMember

// get returns the value of the oldMember named name.
func (ms oldMembers) get(name string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.name == name {
			return m.value, true
		}
	}
	return nil, false
}

// oldPerson finds who an event's model names: the identifier's number and the
// oldPerson's name, each "" when the model does not say.
func oldPerson(model oldMembers) (id, name string) {
	if _, hasType := model.get("type"); hasType {
		id = oldScalarText(model, "number")
	}
	if id == "" {
		id = oldScalarText(model, "identifier_number")
	}
	name = oldStringValue(model, "owner")
	if name == "" {
		name = oldStringValue(model, "user_name")
	}
	if name == "" {
		if info := oldObject(model, "info"); info != nil {
			name = oldStringValue(oldObject(info, "user"), "name")
		}
	}
	if name == "" || id == "" {
		// The entry that names a oldPerson, or else the first one.
		var used oldMembers
		for i, entry := range oldArray(model, "used_identifiers_list") {
			m, _ := oldTopMembers(entry)
			if i == 0 || oldStringValue(m, "user_name") != "" {
				used = m
			}
			if oldStringValue(m, "user_name") != "" {
				break
			}
		}
		if name == "" {
			name = oldStringValue(used, "user_name")
		}
		if id == "" {
			id = oldScalarText(used, "identifier_number")
		}
	}
	return id, name
}

// oldTopMembers splits a JSON object into its oldMembers, keeping each value's
// bytes. A name that occurs twice keeps its first place and its last value,
// as encoding/json reads it. ok is false when b is not a JSON object.
func oldTopMembers(b []byte) (ms oldMembers, ok bool) {
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
		ms = append(ms, oldMember{name: name, value: v})
	}
	return ms, true
}

// oldStringValue returns the oldMember's value when it is a non-empty string.
func oldStringValue(ms oldMembers, name string) string {
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

// oldScalarText returns the oldMember's value as text when it is a non-empty
// string or a number, the number written exactly as stored (12345678901234567890
// stays so).
func oldScalarText(ms oldMembers, name string) string {
	raw, ok := ms.get(name)
	if !ok || len(raw) == 0 {
		return ""
	}
	if c := raw[0]; c == '-' || (c >= '0' && c <= '9') {
		return string(raw)
	}
	return oldStringValue(ms, name)
}

// object returns the oldMember's value when it is an object.
func oldObject(ms oldMembers, name string) oldMembers {
	raw, ok := ms.get(name)
	if !ok {
		return nil
	}
	m, _ := oldTopMembers(raw)
	return m
}

// array returns the elements of the oldMember's value when it is an array.
func oldArray(ms oldMembers, name string) []json.RawMessage {
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

// oldJSONString returns s as a JSON string, HTML characters unescaped.
func oldJSONString(s string) []byte {
	b, _ := oldEncodeJSON(s) // a string always encodes
	return bytes.TrimSuffix(b, []byte("\n"))
}

// oldFilterResponse and the types below are the 200 answer of
// /filterActivity as encoding/json wrote it.
type oldFilterResponse struct {
	Data    oldFilterData `json:"data"`
	Message string        `json:"message"`
}

type oldFilterData struct {
	Activities []oldActivity `json:"activities"`
	NextToken  *string       `json:"nextToken"`
}

type oldActivity struct {
	ID           string          `json:"id"`
	Timestamp    int64           `json:"timestamp"`
	ActivityType string          `json:"activityType"`
	Details      json.RawMessage `json:"details"`
}
