package oloid

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// detailsSeeds are models that exercise every way the details mapping
// reads a model, and the odd JSON a stored model might hold.
var detailsSeeds = []string{
	``, `{}`, `null`, `[1]`, `"x"`, `{"a":`, ` { "a" : [ 1 , { "b" : "c d" } ] , "n" : 1.50e3 } `,
	`{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1}`,
	`{"identifier_number":"A123BC","identifier_type":"license_plate"}`,
	`{"info":{"user":{"link_id":null,"name":"Anna Kowalska"},"destination":{"id":7,"short_name":"7F"}}}`,
	`{"used_identifiers_list":[{"identifier_number":"0012345","auth_type":"card"},{"identifier_number":"17","user_name":"John Doe"}]}`,
	`{"used_identifiers_list":[ {"identifier_number": 5} , "x", [], {"user_name":""}]}`,
	`{"number":"0099","type":"card","owner":"Jane Smith","userName":"spoofed","endpointId":"spoofed","lock":2}`,
	`{"ip_address":"192.168.1.100","session":12345678901234567890,"score":0.93,"note":"<b>open</b> & close"}`,
	`{"a":1,"b":2,"a":3}`, `{"owner":"a","owner":""}`, `{"\u0061":1,"a":2}`, `{"n\u00e9":"\u2028\u2029\b\f\/"}`,
	"{\"owner\":\"bad \xff utf8\",\"k\xfe\":\"v\"}", `{"owner":"x\"y\\z","user_name":"\u0000"}`,
	`{"info":{"user":[{"name":"x"}]},"number":-0,"type":null}`, `{"type":"card","number":"","identifier_number":7}`,
}

// FuzzDetails checks the details mapping against the encoding/json one it
// replaced, byte for byte, with and without a device.
func FuzzDetails(f *testing.F) {
	for _, s := range detailsSeeds {
		f.Add([]byte(s), "dev-1", "Main <Entrance>")
		f.Add([]byte(s), "", "")
	}
	d := detailsWriter{}
	f.Fuzz(func(t *testing.T, model []byte, deviceID, deviceName string) {
		want, err := oldDetails(model, deviceID, deviceName)
		if err != nil {
			t.Fatalf("oldDetails(%q): %v", model, err)
		}
		var ok bool
		if d.model, ok = splitObject(d.model[:0], model); !ok {
			d.model = d.model[:0]
		}
		got := d.appendMembers([]byte("x"), deviceID, deviceName)
		if string(got) != "x"+string(want) {
			t.Fatalf("model %q, device %q %q:\ngot  %s\nwant x%s", model, deviceID, deviceName, got, want)
		}
	})
}

// fakeStore is the little of the store appendPage reads: device names.
type fakeStore struct{ Store }

func (fakeStore) FindDevice(_ context.Context, id string) (*doorlog.Device, error) {
	if id == "unknown" {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "no device %q", id)
	}
	return &doorlog.Device{ID: id, Name: "Name of " + id}, nil
}

// TestAppendPage checks the whole answer against encoding/json's encoding
// of the types it used to be written from.
func TestAppendPage(t *testing.T) {
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{Store: fakeStore{}, Catalog: cat, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var events []doorlog.Event
	keys := append(cat.Keys(), "unknown_key")
	for i, m := range detailsSeeds {
		dev := []string{"", "dev-1", "unknown", "dev-\u2028"}[i%4]
		events = append(events, doorlog.Event{
			ID: doorlog.FormatEventID(int64(i + 1)), DeviceID: dev, Key: keys[i%len(keys)],
			Time: time.UnixMilli(1662364800000 + int64(i)*1001).UTC(), Model: json.RawMessage(m),
		})
	}
	for _, next := range []string{"", "eyJ2IjoxfQ-_"} {
		for _, n := range []int{0, 1, len(events)} {
			want := oldFilterResponse{Data: oldFilterData{Activities: []oldActivity{}}, Message: MessageActivities}
			if next != "" {
				want.Data.NextToken = &next
			}
			for _, e := range events[:n] {
				name := ""
				if e.DeviceID != "" && e.DeviceID != "unknown" {
					name = "Name of " + e.DeviceID
				}
				details, err := oldDetails(e.Model, e.DeviceID, name)
				if err != nil {
					t.Fatal(err)
				}
				want.Data.Activities = append(want.Data.Activities, oldActivity{
					ID: e.ID, Timestamp: e.Time.UnixMilli(), ActivityType: cat.Entry(e.Key).ActivityType, Details: details,
				})
			}
			wantBody, err := oldEncodeJSON(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := h.appendPage(context.Background(), nil, events[:n], next)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantBody) {
				t.Errorf("%d events, next %q:\ngot  %s\nwant %s", n, next, got, wantBody)
			}
		}
	}
}
