package storetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// testListEventsStoredAfter lists and counts the fixture's events stored
// after several of its events (a BAS-IP watermark), with other filters,
// in both orders, by pages, against the reference model. The fixture
// appends its events out of time order, so the events stored after an id
// are not the ones after some time.
func testListEventsStoredAfter(t *testing.T, open Opener) {
	fx := newFixture(t, open)
	s := fx.store
	arr := fx.arrival(doorlog.EventFilter{Scope: all})
	at := func(ms int) time.Time { return T0.Add(time.Duration(ms) * time.Millisecond) }
	for _, k := range []int{0, 7, 37, len(arr) - 2, len(arr) - 1} {
		w := arr[k].ID
		for _, tt := range []struct {
			name string
			f    doorlog.EventFilter
		}{
			{"all", doorlog.EventFilter{Scope: all}},
			{"site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}}},
			{"device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(3)}}},
			{"category and window", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess}, From: at(500), To: at(tieMS)}},
			{"key", doorlog.EventFilter{Scope: all, Keys: []string{keyLogin}}},
			{"text", doorlog.EventFilter{Scope: all, Text: "0002"}},
		} {
			f := tt.f
			f.StoredAfter = w
			name := tt.name + " after event " + strconv.Itoa(k)
			t.Run(name, func(t *testing.T) {
				want := fx.expect(f, doorlog.Asc)
				if got := MustCount(t, s, f); got != int64(len(want)) {
					t.Errorf("CountEvents: got %d, want %d", got, len(want))
				}
				for _, order := range []doorlog.Order{doorlog.Asc, doorlog.Desc} {
					want := fx.expect(f, order)
					got := MustList(t, s, doorlog.EventQuery{Filter: f, Order: order})
					if !slices.Equal(eventIDs(got), eventIDs(want)) {
						t.Errorf("%s: got %v, want %v", orderName(order), eventIDs(got), eventIDs(want))
					}
					if len(want) > 3 {
						page := MustList(t, s, doorlog.EventQuery{Filter: f, Order: order, Offset: 2, Limit: 2})
						if !slices.Equal(eventIDs(page), eventIDs(want[2:4])) {
							t.Errorf("%s, offset 2 limit 2: got %v, want %v", orderName(order), eventIDs(page), eventIDs(want[2:4]))
						}
						c := &doorlog.EventCursor{Time: want[1].Time, ID: want[1].ID}
						page = MustList(t, s, doorlog.EventQuery{Filter: f, Order: order, After: c, Limit: 2})
						if !slices.Equal(eventIDs(page), eventIDs(want[2:4])) {
							t.Errorf("%s, after the second: got %v, want %v", orderName(order), eventIDs(page), eventIDs(want[2:4]))
						}
					}
				}
			})
		}
	}
	_, err := s.ListEvents(ctx(t), doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, StoredAfter: "not an id"}})
	wantCode(t, "ListEvents stored after a bad id", err, doorlog.EINVALID)
	_, err = s.CountEvents(ctx(t), doorlog.EventFilter{Scope: all, StoredAfter: "not an id"})
	wantCode(t, "CountEvents stored after a bad id", err, doorlog.EINVALID)
}

// testWatermarks records, finds, lists, replaces and deletes watermarks.
func testWatermarks(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	ann := doorlog.WatermarkKey{Username: "ann"}
	_, err := s.FindWatermark(ctx(t), ann)
	wantCode(t, "FindWatermark before any clear", err, doorlog.ENOTFOUND)

	empty, err := s.SetWatermark(ctx(t), ann, T0)
	mustOK(t, "SetWatermark in an empty store", err)
	if empty.After != "" || empty.ID == "" || empty.WatermarkKey != ann || !empty.ClearedAt.Equal(T0) {
		t.Errorf("SetWatermark in an empty store: got %+v, want an ID, no After, ann's key, cleared at T0", empty)
	}
	res := MustAppend(t, s, event(1, 0, keyOpened, doorlog.PriorityLow, ""), event(1, 5, keyOpened, doorlog.PriorityLow, ""))

	// The device's watermark, named in upper case, is stored canonical.
	devKey := doorlog.WatermarkKey{TokenID: "tok-1", DeviceID: strings.ToUpper(DeviceID(1))}
	dev, err := s.SetWatermark(ctx(t), devKey, T0.Add(time.Hour+time.Microsecond))
	mustOK(t, "SetWatermark on a device", err)
	if dev.DeviceID != DeviceID(1) || dev.After != res[1].ID || !dev.ClearedAt.Equal(T0.Add(time.Hour)) {
		t.Errorf("SetWatermark on a device: got %+v, want device %s, After %s, cleared at T0+1h", dev, DeviceID(1), res[1].ID)
	}
	MustAppend(t, s, event(0, 1, keyLogin, doorlog.PriorityLow, ""))
	again, err := s.SetWatermark(ctx(t), ann, T0.Add(2*time.Hour))
	mustOK(t, "SetWatermark again", err)
	found, err := s.FindWatermark(ctx(t), ann)
	mustOK(t, "FindWatermark", err)
	if found.After != again.After || found.ID != again.ID || !found.ClearedAt.Equal(T0.Add(2*time.Hour)) {
		t.Errorf("FindWatermark after a second clear: got %+v, want %+v", found, again)
	}
	if again.After <= res[1].ID {
		t.Errorf("a second clear: got After %s, want the newest id, past %s", again.After, res[1].ID)
	}
	list, err := s.ListWatermarks(ctx(t))
	mustOK(t, "ListWatermarks", err)
	if len(list) != 2 || list[0].ID != again.ID || list[1].ID != dev.ID {
		t.Errorf("ListWatermarks: got %+v, want ann's then the device's", list)
	}
	if _, err := s.FindWatermark(ctx(t), doorlog.WatermarkKey{Username: "ann", DeviceID: DeviceID(1)}); doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
		t.Errorf("ann's watermark on the device: got %v, want ENOTFOUND (only the root was cleared)", err)
	}
	for _, k := range []doorlog.WatermarkKey{
		{},
		{Username: "ann", TokenID: "tok-1"},
		{Username: "ann", DeviceID: DeviceID(2)},
		{Username: "ann", DeviceID: "not a device"},
	} {
		_, err := s.SetWatermark(ctx(t), k, T0)
		wantCode(t, "SetWatermark "+k.Username+"/"+k.TokenID+"/"+k.DeviceID, err, doorlog.EINVALID)
	}
	mustOK(t, "DeleteWatermark", s.DeleteWatermark(ctx(t), again.ID))
	_, err = s.FindWatermark(ctx(t), ann)
	wantCode(t, "FindWatermark after its delete", err, doorlog.ENOTFOUND)
	wantCode(t, "DeleteWatermark twice", s.DeleteWatermark(ctx(t), again.ID), doorlog.ENOTFOUND)
	wantCode(t, "DeleteWatermark of a bad id", s.DeleteWatermark(ctx(t), "x"), doorlog.ENOTFOUND)
	list, err = s.ListWatermarks(ctx(t))
	mustOK(t, "ListWatermarks after a delete", err)
	if len(list) != 1 || list[0].ID != dev.ID {
		t.Errorf("ListWatermarks after a delete: got %+v, want the device's alone", list)
	}
}
