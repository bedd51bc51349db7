package app_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
)

// The BAS-IP integrations in the wild, replayed against a running server
// through panel addresses (each client is given only a panel's IP:port),
// cycle by cycle, the way each one polls (docs/api-basip.md lists them).
// Each poller must see every access event of its panel exactly once, over
// several cycles with events arriving between them.

// panelClient is an HTTP client of one panel address.
type panelClient struct {
	tb   testing.TB
	base string // http://IP:port, as the client builds it
}

func (c panelClient) do(method, path string, header http.Header, body string) (int, http.Header, []byte) {
	c.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// logPage is what the pollers read of a log page.
type logPage struct {
	ListItems []struct {
		Timestamp int64 `json:"timestamp"`
		Name      struct {
			Key string `json:"key"`
		} `json:"name"`
		Info struct {
			Model map[string]any `json:"model"`
		} `json:"info"`
	} `json:"list_items"`
}

// clientWorld is a running server with one panel address per client.
type clientWorld struct {
	t      *testing.T
	ts     *httptest.Server
	admin  string
	panels map[string]string // device id → http://IP:port
	next   int               // the next event's source id
	at     time.Time         // the next event's time
}

func newClientWorld(t *testing.T, devices []string) *clientWorld {
	ctx := context.Background()
	a, ts, admin := serveApp(t, app.Config{Name: "doorlog", Version: "1.4.0", Commit: "0123456789ab"})
	w := &clientWorld{t: t, ts: ts, admin: admin, panels: map[string]string{}, at: time.Now().Add(time.Minute).Truncate(time.Second)}
	w.must("POST", "/v1/sites", `{"id":"a","name":"A"}`, 201)
	w.must("POST", "/v1/accounts", `{"username":"admin","password":"12345678","role":"admin"}`, 201)
	for i, id := range devices {
		addr := freeAddr(t, fmt.Sprintf("127.0.0.%d", 10+i))
		w.must("POST", "/v1/devices", fmt.Sprintf(`{"id":%q,"site_id":"a","name":"Panel %d","model":"AA-14FB","listen":%q}`, id, i, addr), 201)
		w.panels[id] = "http://" + addr
	}
	if err := a.StartPanels(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *clientWorld) must(method, path, body string, want int) {
	w.t.Helper()
	if status, b := call(w.t, w.ts, method, path, w.admin, body); status != want {
		w.t.Fatalf("%s %s: got %d %s, want %d", method, path, status, b, want)
	}
}

// add stores n access events (and one system event) on device, the first
// of them at the same millisecond as the last event before, as panels log
// a door opening with its grant; it returns their card numbers.
func (w *clientWorld) add(device string, n int) []string {
	var items, cards []string
	for i := range n {
		if i > 0 {
			w.at = w.at.Add(1500 * time.Millisecond)
		}
		w.next++
		card := strconv.Itoa(100000 + w.next)
		cards = append(cards, card)
		items = append(items, fmt.Sprintf(`{"device_id":%q,"time":%d,"key":"access_granted_by_valid_identifier","source_id":"e%d","model":{"number":%s,"type":"card","lock":1}}`,
			device, w.at.UnixMilli(), w.next, card))
	}
	w.next++
	items = append(items, fmt.Sprintf(`{"device_id":%q,"time":%d,"key":"door_was_opened","source_id":"e%d","model":{"lock":1}}`, device, w.at.UnixMilli(), w.next))
	w.must("POST", "/v1/events", "["+strings.Join(items, ",")+"]", 200)
	return cards
}

// exactlyOnce checks that got holds every card of want once, and no other.
func exactlyOnce(tb testing.TB, client string, got, want []string) {
	tb.Helper()
	seen := map[string]int{}
	for _, c := range got {
		seen[c]++
	}
	for _, c := range want {
		if seen[c] != 1 {
			tb.Errorf("%s: card %s seen %d times, want once", client, c, seen[c])
		}
		delete(seen, c)
	}
	for c, n := range seen {
		tb.Errorf("%s: card %s seen %d times, never sent to its panel", client, c, n)
	}
}

// apiMajor parses the major number out of api_version as the C# services
// do (int.Parse(api_version.Split('.')[0])), failing where they throw.
func apiMajor(tb testing.TB, info []byte) int {
	tb.Helper()
	var v struct {
		APIVersion json.RawMessage `json:"api_version"`
	}
	if err := json.Unmarshal(info, &v); err != nil {
		tb.Fatalf("/api/info is not JSON: %s", info)
	}
	var s string
	if err := json.Unmarshal(v.APIVersion, &s); err != nil {
		tb.Fatalf("api_version %s is not a JSON string (GetString throws)", v.APIVersion)
	}
	parts := strings.Split(s, ".")
	major, err := strconv.Atoi(parts[0])
	if err != nil || len(parts) < 2 {
		tb.Fatalf("api_version %q: int.Parse of its major throws", s)
	}
	if minor, _ := strconv.Atoi(parts[1]); major > 3 || major == 3 && minor > 0 {
		tb.Fatalf("api_version %q: basip_exe refuses majors past 3.0", s)
	}
	return major
}

// cardOf returns an item's card number as the C# services read it
// (model "card", else "number").
func cardOf(m map[string]any) string {
	for _, k := range []string{"card", "number"} {
		switch v := m[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatInt(int64(v), 10)
		}
	}
	return ""
}

// csharpCycle is one cycle of the C# Windows services (Lexer25/basip_exe
// master, and Gr1zle/basip 2.0.1.9 when secondsFrom): info, login (twice
// for basip_exe), one page of 50 from the last timestamp seen, then a
// clear in the syntax of api_version's major when something was read. It
// returns the cards of the grants read and the new last timestamp.
func csharpCycle(tb testing.TB, c panelClient, last int64, secondsFrom bool) ([]string, int64) {
	tb.Helper()
	_, _, info := c.do("GET", "/api/info", nil, "")
	major := apiMajor(tb, info)
	var token string
	for range 2 {
		_, _, b := c.do("GET", "/api/v1/login?username=admin&password="+md5hex("12345678"), http.Header{"Accept": {"application/json"}}, "")
		var l struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &l); err != nil || l.Token == "" {
			tb.Fatalf("login: got %s", b)
		}
		token = l.Token
		if secondsFrom {
			break
		}
	}
	auth := http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}}
	q := fmt.Sprintf("/api/v1/log/items?limit=50&page_number=1&locale=en&sort_type=asc&from=%d", last)
	if secondsFrom {
		q = fmt.Sprintf("/api/v1/log/items?limit=50&page_number=1&locale=en&sort_type=asc&from=%d&to=%d", last/1000, (time.Now().Unix()+10800)*1000)
	}
	status, _, b := c.do("GET", q, auth, "")
	var page logPage
	if status != 200 || json.Unmarshal(b, &page) != nil {
		tb.Fatalf("log items: got %d %s", status, b)
	}
	var cards []string
	max := last
	processed := 0
	for _, it := range page.ListItems {
		if it.Timestamp < last {
			continue
		}
		processed++
		max = it.Timestamp
		if it.Name.Key == "access_granted_by_valid_identifier" {
			cards = append(cards, cardOf(it.Info.Model))
		}
	}
	if processed > 0 {
		body := `{"clear_fields":["logs"]}`
		if major == 1 {
			body = `{"data_types":["logs"]}`
		}
		if status, _, b := c.do("POST", "/api/v1/system/data/clear", http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}, body); status != http.StatusOK {
			tb.Fatalf("clear: got %d %s, want exactly 200", status, b)
		}
	}
	return cards, max
}

// cityBasCycle is one cycle of Lexer25/city_bas: login with an empty
// Bearer header, info, one page of access events (from left out until one
// is known), then a clear, always.
func cityBasCycle(tb testing.TB, c panelClient, last int64) ([]string, int64) {
	tb.Helper()
	_, _, b := c.do("GET", "/api/v1/login?username=admin&password="+md5hex("12345678"), http.Header{"Accept": {"application/json"}, "Authorization": {"Bearer "}}, "")
	var l struct {
		AccountType string `json:"account_type"`
		Token       string `json:"token"`
	}
	if err := json.Unmarshal(b, &l); err != nil || l.AccountType != "admin" {
		tb.Fatalf("city_bas login: got %s, want account_type admin", b)
	}
	c.do("GET", "/api/info", nil, "")
	q := url.Values{"locale": {"ru"}, "limit": {"50"}, "page_number": {"1"}, "sort_type": {"asc"}, "filter_field": {"category"}, "filter_type": {"equal"}, "filter_value": {"access"}}
	if last > 0 {
		q.Set("from", strconv.FormatInt(last, 10))
	}
	auth := http.Header{"Authorization": {"Bearer " + l.Token}, "Accept": {"application/json"}}
	_, _, b = c.do("GET", "/api/v1/log/items?"+q.Encode(), auth, "")
	var page logPage
	if err := json.Unmarshal(b, &page); err != nil {
		tb.Fatalf("city_bas log items: got %s", b)
	}
	var cards []string
	for _, it := range page.ListItems {
		last = it.Timestamp
		if it.Name.Key == "access_granted_by_valid_identifier" {
			cards = append(cards, cardOf(it.Info.Model))
		}
	}
	auth.Set("Content-Type", "application/json")
	c.do("POST", "/api/v1/system/data/clear", auth, `{"clear_fields":["logs"]}`)
	return cards, last
}

func TestBasipClientsInTheWild(t *testing.T) {
	const (
		basipExe = "00000000-0000-4000-8000-0000000000e1"
		gr1zle   = "00000000-0000-4000-8000-0000000000e2"
		cityBas  = "00000000-0000-4000-8000-0000000000e3"
		homeAsst = "00000000-0000-4000-8000-0000000000e4"
		phpLib   = "00000000-0000-4000-8000-0000000000e5"
	)
	w := newClientWorld(t, []string{basipExe, gr1zle, cityBas, homeAsst, phpLib})

	t.Run("basip_exe and Gr1zle/basip (C#)", func(t *testing.T) {
		for _, tt := range []struct {
			device      string
			secondsFrom bool
		}{{basipExe, false}, {gr1zle, true}} {
			c := panelClient{t, w.panels[tt.device]}
			last := w.at.Add(-time.Hour).UnixMilli() // first run: now - 1 h
			var sent, got []string
			for cycle := range 4 {
				sent = append(sent, w.add(tt.device, 3+cycle)...)
				cards, l := csharpCycle(t, c, last, tt.secondsFrom)
				got, last = append(got, cards...), l
			}
			// A cycle with nothing new reads nothing (and clears nothing).
			cards, _ := csharpCycle(t, c, last, tt.secondsFrom)
			exactlyOnce(t, tt.device, append(got, cards...), sent)
		}
	})

	t.Run("city_bas (PHP)", func(t *testing.T) {
		c := panelClient{t, w.panels[cityBas]}
		var sent, got []string
		var last int64
		for cycle := range 4 {
			sent = append(sent, w.add(cityBas, 2+cycle)...)
			cards, l := cityBasCycle(t, c, last)
			got, last = append(got, cards...), l
			cards, l = cityBasCycle(t, c, last) // nothing new: nothing read
			got, last = append(got, cards...), l
		}
		exactlyOnce(t, "city_bas", got, sent)
	})

	t.Run("Home Assistant component", func(t *testing.T) {
		c := panelClient{t, w.panels[homeAsst]}
		sent := w.add(homeAsst, 3)
		status, h, b := c.do("GET", "/api/v1/login?username=admin&password="+md5hex("12345678"), nil, "")
		var l struct {
			Token string `json:"token"`
		}
		if status != 200 || !strings.Contains(h.Get("Content-Type"), "application/json") || json.Unmarshal(b, &l) != nil || l.Token == "" {
			t.Fatalf("HA login: got %d %q %s, want 200 JSON with a token", status, h.Get("Content-Type"), b)
		}
		auth := http.Header{"Authorization": {"Bearer " + l.Token}}
		status, h, b = c.do("GET", "/api/info", auth, "")
		var info map[string]any
		if status != 200 || !strings.Contains(h.Get("Content-Type"), "application/json") || json.Unmarshal(b, &info) != nil {
			t.Fatalf("HA /api/info: got %d %s", status, b)
		}
		if _, ok := info["device_model"].(string); !ok {
			t.Errorf("HA reads device_model.upper(): got %v", info["device_model"])
		}
		status, _, b = c.do("GET", "/api/v1/log/items?limit=10&page_number=1", auth, "")
		var page logPage
		if status != 200 || json.Unmarshal(b, &page) != nil {
			t.Fatalf("HA log items: got %d %s", status, b)
		}
		var cards []string
		for _, it := range page.ListItems {
			if it.Name.Key == "access_granted_by_valid_identifier" {
				cards = append(cards, cardOf(it.Info.Model))
			}
		}
		exactlyOnce(t, "home assistant", cards, sent)
		// A 401 makes it log in again: an ended token must be 401.
		c.do("POST", "/api/v1/logout", auth, "")
		if status, _, _ := c.do("GET", "/api/v1/log/items?limit=10&page_number=1", auth, ""); status != 401 {
			t.Errorf("HA after its token ended: got %d, want 401 (it logs in again on 401)", status)
		}
	})

	t.Run("bas-ip-api-client (PHP library)", func(t *testing.T) {
		c := panelClient{t, w.panels[phpLib]}
		_, _, b := c.do("GET", "/api/info", nil, "")
		var info map[string]any
		if err := json.Unmarshal(b, &info); err != nil || len(info) == 0 {
			t.Fatalf("/api/info: got %s, want a non-empty object", b)
		}
		for _, k := range []string{"firmware_version", "framework_version", "api_version", "device_name", "device_type", "device_serial_number", "commit"} {
			if _, ok := info[k].(string); !ok {
				t.Errorf("/api/info %s: got %#v, want a string (the hydrator's type is required string)", k, info[k])
			}
		}
		if _, ok := info["hybrid_enable"].(bool); !ok {
			t.Errorf("/api/info hybrid_enable: got %#v, want a bool", info["hybrid_enable"])
		}
		for _, k := range []string{"frontend_version", "hybrid_version"} {
			if v, ok := info[k]; ok && v != nil {
				if _, ok := v.(string); !ok {
					t.Errorf("/api/info %s: got %#v, want a string or null", k, v)
				}
			}
		}
		if v, _ := info["framework_version"].(string); strings.Contains(v, "go1") {
			t.Errorf("framework_version %q tells the Go toolchain", v)
		}
		// It logs in again when an answer's error is "Log In".
		_, _, b = c.do("GET", "/api/v1/log/items", http.Header{"Authorization": {"Bearer dl_x_y"}}, "")
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error != "Log In" {
			t.Errorf("a bad token: got %s, want {\"error\": \"Log In\"}", b)
		}
		_, _, b = c.do("GET", "/api/v1/login?username=admin&password="+md5hex("12345678"), nil, "")
		var l struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &l); err != nil || l.Token == "" {
			t.Errorf("login: got %s, want a token string", b)
		}
	})
}
