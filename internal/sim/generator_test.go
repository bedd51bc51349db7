package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

var t0 = time.Date(2025, 3, 14, 7, 30, 0, 0, time.UTC)

// generate returns n events from a generator over the devices, one every
// step starting at t0, and the generator for further calls.
func generate(tb testing.TB, seed int64, devices []sim.Device, n int, step time.Duration) ([]ingest.Item, *sim.Generator) {
	tb.Helper()
	g := sim.NewGenerator(seed, devices)
	items := make([]ingest.Item, n)
	for i := range items {
		items[i] = g.Next(t0.Add(time.Duration(i) * step))
	}
	return items, g
}

func encode(tb testing.TB, items []ingest.Item) []byte {
	tb.Helper()
	b, err := sim.EncodeNDJSON(items)
	if err != nil {
		tb.Fatalf("EncodeNDJSON: %v", err)
	}
	return b
}

func TestPopulation(t *testing.T) {
	tests := []struct {
		name           string
		sites, perSite int
	}{
		{"one", 1, 1},
		{"small", 3, 4},
		{"past the name lists", 30, 20},
		{"none", 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sites, devices := sim.Population(tt.sites, tt.perSite)
			sites2, devices2 := sim.Population(tt.sites, tt.perSite)
			if !slices.Equal(sites, sites2) || !slices.Equal(devices, devices2) {
				t.Fatalf("Population is not deterministic")
			}
			if got, want := len(sites), tt.sites; got != want {
				t.Fatalf("got %d sites, want %d", got, want)
			}
			if got, want := len(devices), tt.sites*tt.perSite; got != want {
				t.Fatalf("got %d devices, want %d", got, want)
			}
			siteIDs, siteNames, deviceIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
			deviceNames := map[string]bool{}
			for i, s := range sites {
				if err := s.Validate(); err != nil {
					t.Errorf("site %d: %v", i, err)
				}
				if got, want := s.ID, fmt.Sprintf("demo-%d", i+1); got != want {
					t.Errorf("site %d: got id %q, want %q", i, got, want)
				}
				if siteIDs[s.ID] || siteNames[s.Name] {
					t.Errorf("site %d: id %q or name %q repeated", i, s.ID, s.Name)
				}
				siteIDs[s.ID], siteNames[s.Name] = true, true
			}
			for i, d := range devices {
				dd := doorlog.Device{ID: d.ID, SiteID: d.SiteID, Name: d.Name, Model: d.Model}
				if err := dd.Validate(); err != nil {
					t.Errorf("device %d: %v", i, err)
				}
				if got, want := dd.ID, d.ID; got != want {
					t.Errorf("device %d: got id %q, want canonical %q", i, got, want)
				}
				if !siteIDs[d.SiteID] {
					t.Errorf("device %d: unknown site %q", i, d.SiteID)
				}
				if deviceIDs[d.ID] || deviceNames[d.SiteID+"/"+d.Name] {
					t.Errorf("device %d: id %s or name %q repeated", i, d.ID, d.Name)
				}
				deviceIDs[d.ID], deviceNames[d.SiteID+"/"+d.Name] = true, true
				if strings.HasPrefix(d.Name, "Lift hall") != (d.Model == sim.ModelLiftController) {
					t.Errorf("device %d: %q has model %q", i, d.Name, d.Model)
				}
			}
		})
	}
	_, devices := sim.Population(2, 3)
	if got, want := devices[0].Name, "Main entrance"; got != want {
		t.Errorf("got first device %q, want %q", got, want)
	}
	if got, want := devices[0].Model, sim.ModelVideoPanel; got != want {
		t.Errorf("got first model %q, want %q", got, want)
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	_, devices := sim.Population(3, 4)
	a, _ := generate(t, 42, devices, 2000, 700*time.Millisecond)
	b, _ := generate(t, 42, devices, 2000, 700*time.Millisecond)
	c, _ := generate(t, 43, devices, 2000, 700*time.Millisecond)
	if got, want := encode(t, a), encode(t, b); !bytes.Equal(got, want) {
		t.Fatalf("same seed, different events")
	}
	if bytes.Equal(encode(t, a), encode(t, c)) {
		t.Fatalf("different seeds, same events")
	}
	ids := map[string]bool{}
	for _, it := range a {
		ids[it.DeviceID+"/"+it.SourceID] = true
	}
	for _, it := range c {
		if ids[it.DeviceID+"/"+it.SourceID] {
			t.Fatalf("seeds 42 and 43 share source id %s of %s, so a server would drop the second run", it.SourceID, it.DeviceID)
		}
	}
}

// group classifies keys for the mix table.
func group(key string) string {
	switch {
	case strings.HasPrefix(key, "access_granted_"):
		return "grant"
	case strings.HasPrefix(key, "access_denied_"):
		return "denial"
	case strings.HasPrefix(key, "door_sensor_"):
		return "door sensor"
	case strings.HasPrefix(key, "lift_"):
		return "lift"
	case strings.Contains(key, "_call"):
		return "call"
	case key == "tamper_event" || key == "door_was_not_closed_too_long":
		return "alarm"
	case key == "device_booted" || key == "sip_registration_lost":
		return "system"
	case key == "lock_was_opened_by_exit_btn":
		return "exit button"
	case key == "cam_light":
		return "cam light"
	}
	return "other"
}

func TestGeneratorMix(t *testing.T) {
	const n = 20000
	_, devices := sim.Population(5, 4)
	items, _ := generate(t, 1, devices, n, 500*time.Millisecond)
	keys, groups := map[string]int{}, map[string]int{}
	for _, it := range items {
		keys[it.Key]++
		groups[group(it.Key)]++
	}
	for _, k := range slices.SortedFunc(maps.Keys(keys), func(a, b string) int { return keys[b] - keys[a] }) {
		t.Logf("%-45s %6d %6.2f%%", k, keys[k], 100*float64(keys[k])/n)
	}
	share := func(g string) float64 { return float64(groups[g]) / n }
	tests := []struct {
		group    string
		min, max float64
	}{
		{"grant", 0.35, 0.60},
		{"door sensor", 0.10, 0.30},
		{"lift", 0.08, 0.30},
		{"call", 0.03, 0.12},
		{"denial", 0.02, 0.10},
		{"exit button", 0.02, 0.08},
		{"cam light", 0.01, 0.05},
		{"alarm", 0.0001, 0.01},
		{"system", 0.0001, 0.01},
		{"other", 0, 0},
	}
	for _, tt := range tests {
		t.Logf("group %-12s %6d %6.2f%%", tt.group, groups[tt.group], 100*share(tt.group))
		if got := share(tt.group); got < tt.min || got > tt.max {
			t.Errorf("%s: got share %.4f, want %.4f..%.4f", tt.group, got, tt.min, tt.max)
		}
	}
	for g, c := range groups {
		if g != "grant" && c >= groups["grant"] {
			t.Errorf("%s: got %d events, want fewer than the %d grants", g, c, groups["grant"])
		}
	}
	for _, k := range []string{
		"access_granted_by_valid_identifier", "access_granted_by_valid_face_identifier", "access_granted_by_call_host",
		"door_sensor_was_opened", "door_sensor_was_closed", "incoming_call", "outgoing_call", "outgoing_call_missed",
		"access_denied_by_unknown_card", "access_denied_by_not_valid_identifier", "access_denied_by_not_valid_input_code",
		"lock_was_opened_by_exit_btn", "lift_call_success", "lift_call_error", "tamper_event",
		"door_was_not_closed_too_long", "device_booted", "sip_registration_lost", "cam_light",
	} {
		if keys[k] == 0 {
			t.Errorf("%s: got none in %d events, want some", k, n)
		}
	}
	if keys["access_granted_by_valid_identifier"] < keys["access_granted_by_valid_face_identifier"] {
		t.Errorf("got fewer card grants (%d) than face grants (%d)", keys["access_granted_by_valid_identifier"], keys["access_granted_by_valid_face_identifier"])
	}
}

func TestGeneratorDoorSensorPairs(t *testing.T) {
	_, devices := sim.Population(4, 5)
	items, g := generate(t, 7, devices, 20000, 300*time.Millisecond)
	items = append(items, g.Drain()...)
	if got, want := g.Pending(), 0; got != want {
		t.Fatalf("after Drain: got %d pending, want %d", got, want)
	}
	open := map[string]time.Time{}
	opens := 0
	for i, it := range items {
		tm, err := ingest.ParseTime(it.Time)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		switch it.Key {
		case "door_sensor_was_opened":
			if _, ok := open[it.DeviceID]; ok {
				t.Fatalf("item %d: device %s opened twice without closing", i, it.DeviceID)
			}
			open[it.DeviceID] = tm
			opens++
		case "door_sensor_was_closed":
			at, ok := open[it.DeviceID]
			if !ok {
				t.Fatalf("item %d: device %s closed without opening", i, it.DeviceID)
			}
			if !tm.After(at) {
				t.Fatalf("item %d: closed at %v, not after the opening at %v", i, tm, at)
			}
			delete(open, it.DeviceID)
		}
	}
	if got, want := len(open), 0; got != want {
		t.Fatalf("got %d doors left open, want %d", got, want)
	}
	if opens == 0 {
		t.Fatalf("got no door openings")
	}
}

// fakeDevices finds the simulated devices for ingest.Service.
type fakeDevices map[string]*doorlog.Device

func (f fakeDevices) FindDevice(_ context.Context, id string) (*doorlog.Device, error) {
	if d, ok := f[id]; ok {
		return d, nil
	}
	return nil, doorlog.Errorf(doorlog.ENOTFOUND, "no device %s", id)
}

// memAppender keeps events like a store, with its uniqueness rule.
type memAppender struct {
	events []doorlog.Event
	seen   map[string]bool
}

func (m *memAppender) AppendEvents(_ context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	out := make([]doorlog.AppendResult, len(events))
	for i, e := range events {
		k := e.DeviceID + "/" + e.SourceID
		if m.seen[k] {
			out[i].Duplicate = true
			continue
		}
		m.seen[k] = true
		m.events = append(m.events, e)
		out[i].ID = doorlog.FormatEventID(int64(len(m.events)))
	}
	return out, nil
}

var millisTime = regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$`)

// modelFields lists the fields each generated key's model must have, by
// seed 001's schema.
var modelFields = map[string][]string{
	"access_granted_by_valid_identifier":         {"number", "type", "owner", "apartment_address", "lock"},
	"access_granted_by_valid_face_identifier":    {"number", "type", "owner", "apartment_address", "lock"},
	"access_denied_by_not_valid_identifier":      {"number", "type", "owner", "apartment_address", "lock"},
	"access_denied_by_not_valid_face_identifier": {"number", "type", "owner", "apartment_address", "lock"},
	"access_denied_by_unknown_card":              {"card"},
	"access_denied_by_not_valid_input_code":      {"code", "lock"},
	"access_granted_by_api_call":                 {"requestor", "lock"},
	"access_granted_by_call_host":                {"host", "lock"},
	"lock_was_opened_by_exit_btn":                {"lock"},
	"door_sensor_was_opened":                     {"lock"},
	"door_sensor_was_closed":                     {"lock"},
	"door_was_not_closed_too_long":               {"lock", "lock_opened_time"},
	"incoming_call":                              {"number", "answered"},
	"outgoing_call":                              {"number", "answered"},
	"outgoing_call_missed":                       {"number", "answered"},
	"lift_call_success":                          {"info"},
	"lift_call_error":                            {"info", "error"},
	"lift_module_access_error":                   {"info", "error"},
	"cam_light":                                  {"state"},
	"tamper_event":                               {},
	"device_booted":                              {},
	"sip_registration_lost":                      {},
}

var identifierTypes = []string{"card", "ukey", "input_code", "face_id", "qr", "license_plate"}

func TestGeneratorItemsAreValidForIngest(t *testing.T) {
	const n = 20000
	_, devices := sim.Population(6, 4)
	items, _ := generate(t, 99, devices, n, 250*time.Millisecond)

	known := fakeDevices{}
	for _, d := range devices {
		known[d.ID] = &doorlog.Device{ID: d.ID, SiteID: d.SiteID, Name: d.Name, Model: d.Model}
	}
	sources := map[string]bool{}
	for i, it := range items {
		if known[it.DeviceID] == nil {
			t.Fatalf("item %d: unknown device %q", i, it.DeviceID)
		}
		if !millisTime.Match(it.Time) {
			t.Fatalf("item %d: got time %s, want RFC 3339 UTC with milliseconds", i, it.Time)
		}
		tm, err := ingest.ParseTime(it.Time)
		if err != nil {
			t.Fatalf("item %d: ParseTime(%s): %v", i, it.Time, err)
		}
		if got, want := tm, t0.Add(time.Duration(i)*250*time.Millisecond); !got.Equal(want) {
			t.Fatalf("item %d: got time %v, want %v", i, got, want)
		}
		k := it.DeviceID + "/" + it.SourceID
		if it.SourceID == "" || len(it.SourceID) > 200 || sources[k] {
			t.Fatalf("item %d: source id %q empty, too long or repeated", i, it.SourceID)
		}
		sources[k] = true
		want, ok := modelFields[it.Key]
		if !ok {
			t.Fatalf("item %d: unexpected key %q", i, it.Key)
		}
		var model map[string]any
		if err := json.Unmarshal(it.Model, &model); err != nil {
			t.Fatalf("item %d: model %s: %v", i, it.Model, err)
		}
		for _, f := range want {
			if _, ok := model[f]; !ok {
				t.Fatalf("item %d (%s): model %s lacks %q", i, it.Key, it.Model, f)
			}
		}
		if typ, ok := model["type"]; ok && !slices.Contains(identifierTypes, typ.(string)) {
			t.Fatalf("item %d: identifier type %q", i, typ)
		}
		if num, ok := model["number"].(float64); ok && num != float64(int64(num)) {
			t.Fatalf("item %d: identifier number %v is not an integer", i, num)
		}
		if info, ok := model["info"].(map[string]any); ok {
			user, _ := info["user"].(map[string]any)
			if name, _ := user["name"].(string); name == "" {
				t.Fatalf("item %d: lift model %s has no info.user.name", i, it.Model)
			}
		}
	}

	// The real ingest path takes every item.
	app := &memAppender{seen: map[string]bool{}}
	svc := ingest.NewService(known, app, func(string) (doorlog.Category, doorlog.Priority) {
		return doorlog.CategoryAccess, doorlog.PriorityLow
	}, ingest.DefaultLimits)
	tok := &doorlog.Token{Role: doorlog.RoleAdmin}
	body := encode(t, items)
	res, err := svc.Ingest(context.Background(), tok, bytes.NewReader(body), int64(len(body)), true)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("got %d rejected, first %+v", len(res.Rejected), res.Rejected[0])
	}
	if got, want := res.Accepted, n; got != want {
		t.Fatalf("got %d accepted, want %d", got, want)
	}
	res, err = svc.Ingest(context.Background(), tok, bytes.NewReader(body), int64(len(body)), true)
	if err != nil {
		t.Fatalf("Ingest again: %v", err)
	}
	if got, want := res.Duplicates, n; got != want {
		t.Fatalf("resent: got %d duplicates, want %d", got, want)
	}
}
