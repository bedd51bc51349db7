package catalog

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateRendering = flag.Bool("update-rendering", false, "rewrite testdata/rendering/*.md from the catalog")

// The realistic values the rendering golden files show every key with.
var (
	identifierTypes = []string{"card", "ukey", "input_code", "face_id", "qr", "license_plate"}
	requestors      = []string{"web_ui", "link_app", "link_server", "link_guest_url", "api"}
	firmware        = []string{"checking", "downloading", "backuping", "installing", "finishing", "error"}
	// counts are the numbers that pick every plural form of the nine
	// locales: one, few, many and other (1, 2, 5, 21, 22, 25, 101).
	counts = []int{1, 2, 5, 21, 22, 25, 101}
)

// identifierNumber is a plausible number for an identifier type.
func identifierNumber(t string) any {
	switch t {
	case "card", "ukey":
		return 12345
	case "input_code":
		return "4711"
	case "face_id":
		return 77
	case "qr":
		return "QR-88213"
	default:
		return "AA1234BB"
	}
}

// sampleModels returns the models a key is rendered with in the golden
// files: every identifier type, locks 1 and 2, every duration, count,
// answer, requestor and firmware status the key's fields can take, and
// the model without its optional fields.
func sampleModels(key string) []map[string]any {
	owner := func(m map[string]any) map[string]any {
		m["owner"], m["apartment_address"] = "Anna Kowalska", "Flat 12"
		return m
	}
	var out []map[string]any
	switch key {
	case "access_denied_by_not_valid_identifier", "access_granted_by_valid_identifier",
		"access_denied_by_remote_server_api_call", "access_granted_by_remote_server_api_call":
		for _, t := range identifierTypes {
			out = append(out, owner(map[string]any{"number": identifierNumber(t), "type": t, "lock": 1}))
		}
		out = append(out, map[string]any{"number": 12345, "type": "card", "lock": 2})
	case "access_denied_by_not_valid_face_identifier", "access_granted_by_valid_face_identifier":
		out = append(out, owner(map[string]any{"number": 77, "type": "face_id", "lock": 1}), map[string]any{"number": 78, "type": "face_id", "lock": 2})
	case "access_denied_by_not_valid_input_code", "access_granted_by_master_code":
		out = append(out, map[string]any{"code": "4711", "lock": 1}, map[string]any{"code": "0000", "lock": 2})
	case "access_denied_by_unknown_card":
		out = append(out, map[string]any{"card": "0012345"}, map[string]any{})
	case "access_denied_by_unknown_qr":
		out = append(out, map[string]any{"qr": "QR-88213"}, map[string]any{})
	case "access_denied_unknown_identifier", "identifiers_without_linkage_to_user_access_denied":
		for _, t := range identifierTypes {
			out = append(out, map[string]any{"identifier_number": identifierNumber(t), "identifier_type": t})
		}
	case "access_granted_by_api_call":
		for _, r := range requestors {
			out = append(out, map[string]any{"requestor": r, "lock": 1})
		}
		out = append(out, map[string]any{"lock": 2})
	case "access_granted_by_call_host":
		out = append(out, map[string]any{"host": "12", "lock": 1}, map[string]any{"lock": 2})
	case "access_granted_by_shared_identifier", "access_denied_by_not_valid_shared_identifier":
		out = append(out, map[string]any{"number": "555", "type": "card", "users_list": "Anna Kowalska, Jan de Vries", "lock_number": 1}, map[string]any{"lock_number": 2})
	case "multi_access_granted", "multi_access_denied":
		out = append(out, map[string]any{"used_identifiers_list": "card 12345, face ID 77", "lock_number": 1}, map[string]any{"lock_number": 2})
	case "door_was_opened", "door_was_closed", "door_sensor_was_opened", "door_sensor_was_closed",
		"emergency_lock_is_opened", "lock_was_opened_by_exit_btn", "lock_was_opened_by_free_access_button":
		out = append(out, map[string]any{"lock": 1}, map[string]any{"lock": 2}, map[string]any{})
	case "lift_call_success":
		for _, lift := range []string{"A", "Lift A", "Лифт 2"} {
			out = append(out, map[string]any{"info": map[string]any{"user": map[string]any{"name": "Anna Kowalska"}, "destination": map[string]any{"id": 7, "short_name": "7F"}, "lift": map[string]any{"id": 1, "short_name": lift}}})
		}
		out = append(out, map[string]any{})
	case "lift_call_error":
		out = append(out, map[string]any{"info": map[string]any{"user": map[string]any{"name": "Jan de Vries"}, "destination": map[string]any{"short_name": "3F"}}, "error": map[string]any{"message": "Lift controller timeout"}}, map[string]any{})
	case "lift_module_access_error":
		out = append(out, map[string]any{"info": map[string]any{"user": map[string]any{"name": "Jan de Vries"}}, "error": map[string]any{"message": "No answer"}}, map[string]any{})
	case "incoming_call", "outgoing_call", "outgoing_call_web":
		out = append(out, map[string]any{"number": "12", "answered": true}, map[string]any{"number": "12", "answered": false}, map[string]any{})
	case "outgoing_call_missed":
		out = append(out, map[string]any{"number": "1002", "answered": false}, map[string]any{})
	case "device_booted":
		for _, s := range firmware {
			out = append(out, map[string]any{"status": s})
		}
		out = append(out, map[string]any{})
	case "successful_login_api_call":
		out = append(out, map[string]any{"account_type": "admin"}, map[string]any{"account_type": "manager"}, map[string]any{})
	case "incorrect_login_api_call":
		out = append(out, map[string]any{"account_type": "admin"}, map[string]any{})
		for _, n := range counts {
			out = append(out, map[string]any{"count": n, "client": "203.0.113.9"})
		}
	case "door_was_not_closed_too_long":
		for _, n := range counts {
			out = append(out, map[string]any{"lock": 1, "lock_opened_time": n})
		}
		out = append(out, owner(map[string]any{"number": 12345, "type": "card", "lock": 2, "lock_opened_time": 120}))
	case "cam_light":
		out = append(out, map[string]any{"state": "on"}, map[string]any{"state": "off"})
	case "collector_gap":
		for _, n := range counts {
			out = append(out, map[string]any{"estimated_missing": n})
		}
	case "alarm_acknowledged":
		for _, k := range []string{"tamper_event", "door_was_not_closed_too_long", "emergency_lock_is_opened", "collector_gap"} {
			out = append(out, map[string]any{"username": "anna.kowalska", "alarm_key": k, "alarm_event_id": "00000000012AB"})
		}
		out = append(out, map[string]any{"username": "token 0123abcd", "alarm_key": "tamper_event"}, map[string]any{"username": "anna.kowalska"})
	default:
		out = append(out, map[string]any{})
	}
	return out
}

// TestRenderingGolden renders every key of the catalog in every locale
// with realistic models into testdata/rendering/<locale>.md, one page per
// language that a reviewer reads whole, and fails when the catalog renders
// differently from it: every change of a name or text shows in review.
func TestRenderingGolden(t *testing.T) {
	c := newCatalog(t)
	for _, loc := range Locales() {
		var b strings.Builder
		fmt.Fprintf(&b, "# The catalog in %s\n\nEvery key's name and its text for realistic models. Generated by TestRenderingGolden; `go test ./internal/catalog -run TestRenderingGolden -update-rendering` rewrites it.\n", loc)
		for _, key := range c.Keys() {
			fmt.Fprintf(&b, "\n## %s: %s\n\n", key, c.Name(loc, key))
			for _, m := range sampleModels(key) {
				raw, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "- `%s`\n  %s\n", raw, c.Text(loc, key, raw))
			}
		}
		path := filepath.Join("testdata", "rendering", loc+".md")
		if *updateRendering {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-rendering to write it)", err)
		}
		if got := b.String(); got != string(want) {
			gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Errorf("%s line %d:\n got  %s\n want %s\n(-update-rendering rewrites it)", path, i+1, gl[i], wl[i])
					break
				}
			}
			if len(gl) != len(wl) {
				t.Errorf("%s: got %d lines, want %d", path, len(gl), len(wl))
			}
		}
	}
}
