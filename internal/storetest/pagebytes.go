package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// testListEventsMaxBytes checks that a page bounded by bytes ends with the
// event whose model brings the page to MaxBytes, on every way the store
// reads a page (whole table, a device's events, a filter on the model, an
// offset, a cursor), and that walking a listing by cursor with such pages
// serves every event once.
func testListEventsMaxBytes(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	MustCreateDevice(t, s, "s1", 2)
	// Models from a few bytes to a few kilobytes, so that pages end after
	// different numbers of events.
	var in []doorlog.Event
	for i := range 90 {
		e := event(1+i%2, i*37%90*1000, []string{keyGranted, keyCall, keyTamper}[i%3], priorityCycle[i%4], fmt.Sprintf("mb-%d", i))
		pad := strings.Repeat("x", (i*i*31)%3000)
		e.Model = json.RawMessage(fmt.Sprintf(`{"number":"%06d","type":"card","note":"%s"}`, i, pad))
		in = append(in, e)
	}
	var stored []doorlog.Event
	for start := 0; start < len(in); start += 30 {
		batch := in[start : start+30]
		for i, r := range MustAppend(t, s, batch...) {
			e := batch[i]
			e.ID, e.SiteID, e.Time = r.ID, "s1", doorlog.TruncateMillis(e.Time)
			stored = append(stored, e)
		}
	}
	ref := func(f doorlog.EventFilter, order doorlog.Order) []doorlog.Event {
		var out []doorlog.Event
		for _, e := range stored {
			if matches(f, e) {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b doorlog.Event) int {
			if before(a, b) == (order == doorlog.Asc) {
				return -1
			}
			return 1
		})
		return out
	}
	// cut is what a page of want should be: at most limit events, ending
	// with the one that brings the models to maxBytes.
	cut := func(want []doorlog.Event, limit, maxBytes int) []doorlog.Event {
		n := 0
		for i := range want {
			if limit > 0 && i == limit {
				return want[:i]
			}
			if n += len(want[i].Model); n >= maxBytes {
				return want[:i+1]
			}
		}
		return want
	}
	filters := []struct {
		name string
		f    doorlog.EventFilter
	}{
		{"all", doorlog.EventFilter{Scope: all}},
		{"device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(2)}}},
		{"category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess, doorlog.CategoryEmergency}}},
		{"model", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"card"}}},
	}
	for _, ft := range filters {
		for _, order := range []doorlog.Order{doorlog.Asc, doorlog.Desc} {
			want := ref(ft.f, order)
			if len(want) < 20 {
				t.Fatalf("%s: the reference selects %d events; the case tests too little", ft.name, len(want))
			}
			for _, maxBytes := range []int{1, 2500, 9000} {
				name := fmt.Sprintf("%s/%s/max %d", ft.name, orderName(order), maxBytes)
				t.Run(name, func(t *testing.T) {
					got := MustList(t, s, doorlog.EventQuery{Filter: ft.f, Order: order, Limit: 25, MaxBytes: maxBytes})
					if g, w := eventIDs(got), eventIDs(cut(want, 25, maxBytes)); !slices.Equal(g, w) {
						t.Errorf("first page: got %q, want %q", g, w)
					}
					got = MustList(t, s, doorlog.EventQuery{Filter: ft.f, Order: order, Offset: 7, Limit: 25, MaxBytes: maxBytes})
					if g, w := eventIDs(got), eventIDs(cut(want[7:], 25, maxBytes)); !slices.Equal(g, w) {
						t.Errorf("page at offset 7: got %q, want %q", g, w)
					}
					// A whole walk by cursor serves every event once.
					var walked []string
					var after *doorlog.EventCursor
					for range len(want) + 1 {
						page := MustList(t, s, doorlog.EventQuery{Filter: ft.f, Order: order, After: after, Limit: 25, MaxBytes: maxBytes})
						if len(page) == 0 {
							break
						}
						if n := doorlog.PageBytes(page[:len(page)-1]); n >= maxBytes {
							t.Fatalf("a page's models before its last add up to %d bytes, want fewer than %d", n, maxBytes)
						}
						walked = append(walked, eventIDs(page)...)
						last := page[len(page)-1]
						after = &doorlog.EventCursor{Time: last.Time, ID: last.ID}
					}
					if w := eventIDs(want); !slices.Equal(walked, w) {
						t.Errorf("walk by cursor: got %d events %q, want %d %q", len(walked), walked, len(w), w)
					}
				})
			}
		}
	}
	_, err := s.ListEvents(ctx(t), doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}, MaxBytes: -1})
	wantCode(t, "ListEvents with negative MaxBytes", err, doorlog.EINVALID)
}
