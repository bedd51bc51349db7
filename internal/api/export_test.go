package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// exportFixture stores three events whose texts and models need CSV
// quoting: a comma, quotes and a line break in the owner, a comma in the
// model, and a server event. It returns their ids in time order.
func exportFixture(t testing.TB) (*env, []string) {
	t.Helper()
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	at := func(s string) int {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return int(tm.Sub(t0).Milliseconds())
	}
	res := storetest.MustAppend(t, e.store,
		ev(cat, devB, at("2024-05-01T23:30:00Z"), "door_was_opened", `{"lock":2,"note":"a,b"}`, ""),
		ev(cat, devA, at("2024-05-01T10:00:00.123Z"), "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Lee, \"Ann\"\nFlat 2","lock":1}`, "x1"),
		ev(cat, "", at("2024-05-01T10:00:00.124Z"), "successful_login_api_call", `{"account_type":"admin"}`, "login-1"),
	)
	return e, []string{res[1].ID, res[2].ID, res[0].ID}
}

// export fetches an export and fails unless it is a 200.
func (e *env) export(t testing.TB, token, query string) (http.Header, string) {
	t.Helper()
	status, hdr, body := e.get(t, "/v1/events/export?"+query, token)
	if status != 200 {
		t.Fatalf("GET /v1/events/export?%s: got status %d (%s), want 200", query, status, body)
	}
	return hdr, string(body)
}

func TestExportCSV(t *testing.T) {
	e, id := exportFixture(t)
	hdr, body := e.export(t, e.admin, "format=csv&tz=Europe/Kyiv")
	want := "id,time,site_id,site_name,device_id,device_name,key,category,priority,name,text,source_id,model\r\n" +
		id[0] + ",2024-05-01T13:00:00.123+03:00,a,Site A," + devA + ",Gate A,access_granted_by_valid_identifier,access,medium,Lock opened by identifier," +
		`"Lock 1 opened by card 12345 (Lee, ""Ann""` + "\r\n" + `Flat 2)",x1,"{""number"":12345,""type"":""card"",""owner"":""Lee, \""Ann\""\nFlat 2"",""lock"":1}"` + "\r\n" +
		id[1] + `,2024-05-01T13:00:00.124+03:00,,,,,successful_login_api_call,system,medium,Login to the web interface,Successful (admin) login to the web interface,login-1,"{""account_type"":""admin""}"` + "\r\n" +
		id[2] + ",2024-05-02T02:30:00.000+03:00,b,Site B," + devB + `,Gate B,door_was_opened,access,low,Door was opened,Door 2 opened,,"{""lock"":2,""note"":""a,b""}"` + "\r\n"
	if body != want {
		t.Errorf("body:\ngot  %q\nwant %q", body, want)
	}
	for name, w := range map[string]string{
		"Content-Type":        "text/csv; charset=utf-8",
		"Content-Disposition": `attachment; filename="doorlog-events-20240602T030405Z.csv"`,
	} {
		if got := hdr.Get(name); got != w {
			t.Errorf("%s: got %q, want %q", name, got, w)
		}
	}

	// UTC by default, newest first on request, in Ukrainian.
	_, body = e.export(t, e.admin, "format=csv&order=desc&locale=uk&site_id=a")
	want = "id,time,site_id,site_name,device_id,device_name,key,category,priority,name,text,source_id,model\r\n" +
		id[0] + ",2024-05-01T10:00:00.123Z,a,Site A," + devA + ",Gate A,access_granted_by_valid_identifier,access,medium,Замок відімкнено ідентифікатором," +
		`"Замок 1 відімкнено: картка 12345 (Lee, ""Ann""` + "\r\n" + `Flat 2)",x1,"{""number"":12345,""type"":""card"",""owner"":""Lee, \""Ann\""\nFlat 2"",""lock"":1}"` + "\r\n"
	if body != want {
		t.Errorf("site a in uk:\ngot  %q\nwant %q", body, want)
	}
}

// TestExportCSVForSpreadsheets: a spreadsheet set to a locale that
// separates with ";" (ru, pl, …) opens the export right with
// separator=semicolon, and one that guesses the encoding reads UTF-8 with
// bom=true.
func TestExportCSVForSpreadsheets(t *testing.T) {
	e, id := exportFixture(t)
	_, body := e.export(t, e.admin, "format=csv&site_id=b&separator=semicolon&bom=true&locale=ru")
	want := "\xef\xbb\xbf" + "id;time;site_id;site_name;device_id;device_name;key;category;priority;name;text;source_id;model\r\n" +
		id[2] + ";2024-05-01T23:30:00.000Z;b;Site B;" + devB + `;Gate B;door_was_opened;access;low;Дверь открыта;Дверь 2 открыта;;"{""lock"":2,""note"":""a,b""}"` + "\r\n"
	if body != want {
		t.Errorf("body:\ngot  %q\nwant %q", body, want)
	}
	// A ";" in a cell is quoted there, as a "," is with the comma.
	e.mustDo(t, "POST", "/v1/sites", e.admin, `{"id":"c","name":"Site C; east"}`, 201)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devC+`","site_id":"c","name":"Gate, C"}`, 201)
	e.mustDo(t, "POST", "/v1/events", e.admin, `{"device_id":"`+devC+`","time":"2024-05-01T10:00:00Z","key":"door_was_opened","model":{"lock":1}}`, 200)
	_, body = e.export(t, e.admin, "format=csv&site_id=c&separator=semicolon")
	if !strings.Contains(body, `;c;"Site C; east";`+devC+`;Gate, C;`) {
		t.Errorf("a cell with the separator: got %q", body)
	}
	_, body = e.export(t, e.admin, "format=csv&site_id=c&bom=false&separator=comma")
	if !strings.HasPrefix(body, "id,time,") || !strings.Contains(body, `,c,Site C; east,`+devC+`,"Gate, C",`) {
		t.Errorf("the default separator: got %q", body)
	}
}

func TestExportNDJSON(t *testing.T) {
	e, id := exportFixture(t)
	hdr, body := e.export(t, e.admin, "format=ndjson&tz=Europe/Kyiv")
	want := `{"id":"` + id[0] + `","device_id":"` + devA + `","site_id":"a","time":"2024-05-01T10:00:00.123Z","key":"access_granted_by_valid_identifier","category":"access","priority":"medium","name":"Lock opened by identifier","text":"Lock 1 opened by card 12345 (Lee, \"Ann\"\nFlat 2)","model":{"number":12345,"type":"card","owner":"Lee, \"Ann\"\nFlat 2","lock":1},"source_id":"x1"}` + "\n" +
		`{"id":"` + id[1] + `","device_id":null,"site_id":null,"time":"2024-05-01T10:00:00.124Z","key":"successful_login_api_call","category":"system","priority":"medium","name":"Login to the web interface","text":"Successful (admin) login to the web interface","model":{"account_type":"admin"},"source_id":"login-1"}` + "\n" +
		`{"id":"` + id[2] + `","device_id":"` + devB + `","site_id":"b","time":"2024-05-01T23:30:00.000Z","key":"door_was_opened","category":"access","priority":"low","name":"Door was opened","text":"Door 2 opened","model":{"lock":2,"note":"a,b"}}` + "\n"
	if body != want {
		t.Errorf("body:\ngot  %q\nwant %q", body, want)
	}
	if got := hdr.Get("Content-Type"); got != "application/x-ndjson" {
		t.Errorf("Content-Type: got %q, want application/x-ndjson", got)
	}
	if got, w := hdr.Get("Content-Disposition"), `attachment; filename="doorlog-events-20240602T030405Z.ndjson"`; got != w {
		t.Errorf("Content-Disposition: got %q, want %q", got, w)
	}
	// Each line is the event the list serves.
	list := e.list(t, e.admin, "order=asc")
	for i, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		var got listedEvent
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		gj, _ := json.Marshal(got)
		lj, _ := json.Marshal(list.Events[i])
		if !bytes.Equal(gj, lj) {
			t.Errorf("line %d: got %s, want the listed %s", i, gj, lj)
		}
	}
}

func TestExportScope(t *testing.T) {
	e, id := exportFixture(t)
	managerA := e.token(t, `{"role":"manager","site_ids":["a"]}`)
	header := "id,time,site_id,site_name,device_id,device_name,key,category,priority,name,text,source_id,model\r\n"
	tests := []struct {
		name, token, query string
		want               []string
	}{
		{"admin", e.admin, "", id},
		{"manager of a", managerA, "", id[:1]},
		{"manager of a asks for b", managerA, "site_id=b", nil},
		{"manager of a asks for b's device", managerA, "device_id=" + devB, nil},
		{"admin asks for b", e.admin, "site_id=b", id[2:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := e.export(t, tt.token, "format=csv&"+tt.query)
			rest, ok := strings.CutPrefix(body, header)
			if !ok {
				t.Fatalf("CSV %q does not start with the header", body)
			}
			var got []string
			for line := range strings.SplitSeq(rest, "\r\n") {
				if f, _, ok := strings.Cut(line, ","); ok && len(f) == doorlog.EventIDLen {
					got = append(got, f)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("ids: got %q, want %q", got, tt.want)
			}
			_, nd := e.export(t, tt.token, "format=ndjson&"+tt.query)
			if n := strings.Count(nd, "\n"); n != len(tt.want) {
				t.Errorf("ndjson: got %d lines, want %d", n, len(tt.want))
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	e, _ := exportFixture(t)
	device := e.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	tests := []struct {
		name, query, token string
		status             int
		mention            string
	}{
		{"no token", "format=csv", "", 401, ""},
		{"device token", "format=csv", device, 403, ""},
		{"no format", "", e.admin, 400, "format"},
		{"unknown format", "format=xlsx", e.admin, 400, "format"},
		{"unknown tz", "format=csv&tz=Mars/Olympus", e.admin, 400, "tz"},
		{"Local is no tz", "format=csv&tz=Local", e.admin, 400, "tz"},
		{"bad order", "format=csv&order=up", e.admin, 400, "order"},
		{"bad separator", "format=csv&separator=tab", e.admin, 400, "separator"},
		{"bad bom", "format=csv&bom=yes", e.admin, 400, "bom"},
		{"bad filter", "format=ndjson&category=nope", e.admin, 400, "category"},
		{"to before from", "format=ndjson&from=5&to=4", e.admin, 400, "from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := e.get(t, "/v1/events/export?"+tt.query, tt.token)
			var out struct{ Error, Code string }
			if err := json.Unmarshal(body, &out); err != nil || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("got %q (%v), want a JSON error", body, err)
			}
			if status != tt.status || !strings.Contains(out.Error, tt.mention) {
				t.Errorf("got %d %q, want %d with a message mentioning %q", status, out.Error, tt.status, tt.mention)
			}
		})
	}
}

// raceEnabled reports whether the test binary was built with -race, whose
// instrumentation makes the pure-Go SQLite some ten times slower.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestExportLargeBoundedMemory exports 100 000 events as NDJSON and checks
// that the process's heap stays bounded while the response streams: a
// server that built the whole result first would hold all of it (about
// 40 MB of output) at once. The heap is measured after a GC every few
// megabytes the client reads, so the figure does not depend on timing.
// Under the race detector it exports 20 000 events, which still tells a
// streaming export (a few MB) from a buffering one (the whole output),
// in seconds rather than minutes.
func TestExportLargeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("exports 100 000 events")
	}
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	n := 100_000
	if raceEnabled() {
		n = 20_000
	}
	bulk(t, e, cat, n, 0)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, mallocs := ms.HeapInuse, ms.Mallocs
	peak := base

	req, _ := http.NewRequest("GET", e.url+"/v1/events/export?format=ndjson&locale=uk", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got status %d, want 200", resp.StatusCode)
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var lines, total, sinceCheck int
	var lastTime, lastID string
	field := func(line []byte, prefix string) string {
		_, rest, _ := bytes.Cut(line, []byte(prefix))
		v, _, _ := bytes.Cut(rest, []byte(`"`))
		return string(v)
	}
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		total += len(line)
		sinceCheck += len(line)
		// Only the order keys are read, in place: decoding every line
		// would measure the client.
		id, tm := field(line, `{"id":"`), field(line, `"time":"`)
		if len(id) != doorlog.EventIDLen || len(tm) != len("2024-05-01T10:00:00.000Z") {
			t.Fatalf("line %d: %q has no id or time", lines, line)
		}
		if tm < lastTime || (tm == lastTime && id <= lastID) {
			t.Fatalf("line %d (%s %s) is not after (%s %s)", lines, tm, id, lastTime, lastID)
		}
		lastTime, lastID = tm, id
		lines++
		if sinceCheck >= 4<<20 {
			sinceCheck = 0
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	runtime.ReadMemStats(&ms)
	if lines != n {
		t.Fatalf("got %d lines, want %d", lines, n)
	}
	growth := int64(peak) - int64(base)
	perEvent := float64(ms.Mallocs-mallocs) / float64(n)
	t.Logf("%d events, %.1f MB of NDJSON; heap in use grew by at most %.1f MB; %.1f allocations per event (server and client)",
		n, float64(total)/(1<<20), float64(growth)/(1<<20), perEvent)
	if limit := int64(16 << 20); growth > limit || growth > int64(total)/2 {
		t.Errorf("heap in use grew by %d bytes while streaming %d bytes, want under %d: the export is not streaming", growth, total, limit)
	}
	if perEvent > 200 {
		t.Errorf("%.1f allocations per event, want at most 200", perEvent)
	}
}

// TestExportAbortsMidStream closes the store while an export streams: the
// response, already under way, must end as a broken transfer the client
// notices (not a short file that looks complete), and the error is logged.
func TestExportAbortsMidStream(t *testing.T) {
	e, cat, logs := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	// 25 pages, about 15 MB of CSV: more than loopback socket buffers
	// hold, so the server cannot have written everything (it reads one
	// page ahead) before the store closes.
	bulk(t, e, cat, 50_000, 0)
	req, _ := http.NewRequest("GET", e.url+"/v1/events/export?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got status %d, want 200", resp.StatusCode)
	}
	first := make([]byte, 1024)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Fatalf("read the rest (%d bytes) without an error, want a broken transfer", n)
	}
	if !strings.Contains(logs.String(), "event export failed while streaming") {
		t.Errorf("logs %q: want the export failure logged", logs.String())
	}
}

// BenchmarkExportNDJSON measures the export of 20 000 events over HTTP,
// rendered in Ukrainian, and reports events per second.
func BenchmarkExportNDJSON(b *testing.B) {
	e, cat, _ := newEventsEnv(b)
	e.seed(b)
	e.mustDo(b, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	const n = 20_000
	bulk(b, e, cat, n, 0)
	benchExport(b, e, "format=ndjson&locale=uk", n)
}

// BenchmarkExportCSV is BenchmarkExportNDJSON for CSV in a time zone.
func BenchmarkExportCSV(b *testing.B) {
	e, cat, _ := newEventsEnv(b)
	e.seed(b)
	e.mustDo(b, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	const n = 20_000
	bulk(b, e, cat, n, 0)
	benchExport(b, e, "format=csv&locale=uk&tz=Europe/Kyiv", n)
}

func benchExport(b *testing.B, e *env, query string, n int) {
	b.Helper()
	var bytesOut int64
	for b.Loop() {
		req, _ := http.NewRequest("GET", e.url+"/v1/events/export?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("got %d, %v", resp.StatusCode, err)
		}
		bytesOut = m
	}
	b.SetBytes(bytesOut)
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
