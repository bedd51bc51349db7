package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// testAcks creates acks, keeps the first of an event against a second,
// and lists the acks of some, none and unknown event ids.
func testAcks(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	d := MustCreateDevice(t, s, "s1", 1)
	ev := func(i int) doorlog.Event {
		return doorlog.Event{DeviceID: d.ID, Time: T0.Add(time.Duration(i) * time.Second), Key: "tamper_event",
			Category: doorlog.CategoryEmergency, Priority: doorlog.PriorityCritical}
	}
	res := MustAppend(t, s, ev(0), ev(1), ev(2))
	id0, id1, id2 := res[0].ID, res[1].ID, res[2].ID

	first := &doorlog.Ack{EventID: id1, SiteID: "s1", DeviceID: d.ID, Username: "ann", TokenID: "t-ann",
		At: T0.Add(time.Minute + 1234567*time.Nanosecond)}
	if err := s.CreateAck(ctx(t), first); err != nil {
		t.Fatalf("CreateAck: %v", err)
	}
	if want := T0.Add(time.Minute + time.Millisecond); !first.At.Equal(want) || first.At.Location() != time.UTC {
		t.Errorf("CreateAck wrote back At %v, want %v in UTC", first.At, want)
	}
	second := &doorlog.Ack{EventID: id1, SiteID: "s1", DeviceID: d.ID, Username: "bob", TokenID: "t-bob", At: T0.Add(2 * time.Minute)}
	wantCode(t, "CreateAck of an acknowledged event", s.CreateAck(ctx(t), second), doorlog.ECONFLICT)
	before := time.Now().Add(-time.Second)
	byToken := &doorlog.Ack{EventID: id2, SiteID: "s1", DeviceID: d.ID, Username: "token 0123abcd", TokenID: "0123abcdef"}
	if err := s.CreateAck(ctx(t), byToken); err != nil {
		t.Fatalf("CreateAck with a zero At: %v", err)
	}
	if byToken.At.Before(before) || byToken.At.After(time.Now().Add(time.Second)) {
		t.Errorf("CreateAck with a zero At: got At %v, want about now", byToken.At)
	}

	unknown := doorlog.FormatEventID(1 << 40)
	for _, tt := range []struct {
		name string
		ids  []string
		want []*doorlog.Ack
	}{
		{"nil", nil, []*doorlog.Ack{}},
		{"none", []string{}, []*doorlog.Ack{}},
		{"one acknowledged", []string{id1}, []*doorlog.Ack{first}},
		{"not acknowledged", []string{id0}, []*doorlog.Ack{}},
		{"unknown", []string{unknown}, []*doorlog.Ack{}},
		{"some, by event id", []string{unknown, id2, id0, id1}, []*doorlog.Ack{first, byToken}},
		{"repeated", []string{id1, id1}, []*doorlog.Ack{first}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAcks(ctx(t), tt.ids)
			if err != nil {
				t.Fatalf("ListAcks: %v", err)
			}
			if got == nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListAcks(%q): got %s, want %s", tt.ids, ackList(got), ackList(tt.want))
			}
		})
	}

	for _, tt := range []struct {
		name string
		ack  doorlog.Ack
	}{
		{"bad event id", doorlog.Ack{EventID: "not an id", Username: "ann"}},
		{"empty event id", doorlog.Ack{Username: "ann"}},
		{"nobody", doorlog.Ack{EventID: id0}},
	} {
		t.Run("CreateAck "+tt.name, func(t *testing.T) {
			wantCode(t, "CreateAck", s.CreateAck(ctx(t), &tt.ack), doorlog.EINVALID)
		})
	}
	_, err := s.ListAcks(ctx(t), []string{id0, "not an id"})
	wantCode(t, "ListAcks with a bad id", err, doorlog.EINVALID)
	many := make([]string, doorlog.MaxAckIDs+1)
	for i := range many {
		many[i] = doorlog.FormatEventID(int64(i + 1))
	}
	_, err = s.ListAcks(ctx(t), many)
	wantCode(t, "ListAcks of MaxAckIDs+1 ids", err, doorlog.EINVALID)
	got, err := s.ListAcks(ctx(t), many[:doorlog.MaxAckIDs])
	if err != nil {
		t.Fatalf("ListAcks of MaxAckIDs ids: %v", err)
	}
	if len(got) != 2 {
		t.Errorf("ListAcks of MaxAckIDs ids: got %s, want the 2 acks", ackList(got))
	}
}

// ackList writes acks for a failure message.
func ackList(acks []*doorlog.Ack) string {
	out := "["
	for i, a := range acks {
		if i > 0 {
			out += " "
		}
		out += a.EventID + " by " + a.Username + " at " + a.At.Format(time.RFC3339Nano)
	}
	return out + "]"
}
