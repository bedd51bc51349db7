package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// openAt opens the store at path and closes it when the test ends.
func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func openTemp(t testing.TB) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "doorlog.db"))
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t testing.TB) doorlog.Store { return openTemp(t) })
}

// TestStoreFineCounts runs the contract with a split threshold of three
// events, so that the windows the contract asks about have dense buckets
// split into finer counts (and some waiting to be), and the answers must
// stay the same. (A threshold of two took no less time under -race and
// three still splits the suite's sparsest fixtures.)
func TestStoreFineCounts(t *testing.T) {
	storetest.Run(t, func(t testing.TB) doorlog.Store {
		db := openTemp(t)
		db.SetSplit(3)
		return db
	})
}

func TestStoreMatch(t *testing.T) {
	storetest.RunMatch(t, func(t testing.TB) doorlog.Store { return openTemp(t) })
}

func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "doorlog.db")
	db := openAt(t, path)
	storetest.MustCreateSite(t, db, "s1")
}

func TestOpenRefusesQuestionMark(t *testing.T) {
	_, err := Open(t.Context(), filepath.Join(t.TempDir(), "x?mode=ro"))
	if got := doorlog.ErrorCode(err); got != doorlog.EINVALID {
		t.Errorf("Open with '?' in the path: got %q (%v), want %q", got, err, doorlog.EINVALID)
	}
}

func pragma(t testing.TB, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	db := openTemp(t)
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": fmt.Sprint(BusyTimeout.Milliseconds()),
		"query_only":   "0",
	}
	// Every connection of each pool must have them, not only the first:
	// hold several at once.
	for _, pool := range []struct {
		name string
		db   *sql.DB
		n    int
	}{{"writer", db.w, 1}, {"reader", db.r, readers}} {
		var conns []*sql.Conn
		for range pool.n {
			c, err := pool.db.Conn(t.Context())
			if err != nil {
				t.Fatalf("%s: Conn: %v", pool.name, err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			for name, w := range want {
				if pool.name == "reader" && name == "query_only" {
					w = "1"
				}
				var got string
				if err := c.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&got); err != nil {
					t.Fatalf("%s %d: PRAGMA %s: %v", pool.name, i, name, err)
				}
				if got != w {
					t.Errorf("%s connection %d: PRAGMA %s: got %q, want %q", pool.name, i, name, got, w)
				}
			}
			c.Close()
		}
	}
	if _, err := db.r.ExecContext(t.Context(), `INSERT INTO event_keys (key) VALUES ('x')`); err == nil {
		t.Errorf("a write through the read pool succeeded, want it refused")
	}
}

func TestMigrations(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	path := filepath.Join(t.TempDir(), "doorlog.db")
	db := openAt(t, path)
	if got, want := pragma(t, db.w, "user_version"), fmt.Sprint(len(ms)); got != want {
		t.Errorf("user_version after Open: got %s, want %s", got, want)
	}
	n, err := migrate(t.Context(), db.w)
	if err != nil || n != 0 {
		t.Errorf("migrate on a migrated database: got %d applied, %v; want 0, nil", n, err)
	}
	storetest.MustCreateSite(t, db, "s1")

	// A second Open of the same file applies nothing either (it would fail
	// on CREATE TABLE if it did) and sees the data.
	db2 := openAt(t, path)
	if _, err := db2.FindSite(t.Context(), "s1"); err != nil {
		t.Errorf("FindSite after reopening: %v", err)
	}
	if got, want := pragma(t, db2.w, "user_version"), fmt.Sprint(len(ms)); got != want {
		t.Errorf("user_version after a second Open: got %s, want %s", got, want)
	}

	// A file from a newer doorlog is refused, not half-used.
	if _, err := db.w.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", len(ms)+1)); err != nil {
		t.Fatal(err)
	}
	if db3, err := Open(t.Context(), path); err == nil {
		db3.Close()
		t.Errorf("Open of a newer schema: got no error, want one")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: got %v, want an error saying it is newer", err)
	}
	if _, err := db.w.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
		t.Fatal(err)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorlog.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustCreateSite(t, db, "s1")
	storetest.MustCreateDevice(t, db, "s1", 1)
	acct := &doorlog.Account{Username: "root", PasswordHash: "h", Role: doorlog.RoleAdmin}
	tok := &doorlog.Token{ID: "t1", SecretHash: []byte{1, 2, 3}, Role: doorlog.RoleManager, SiteIDs: []string{"s1"}}
	if err := db.CreateAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	ev := doorlog.Event{DeviceID: storetest.DeviceID(1), Time: storetest.T0, Key: "door_was_opened",
		Category: doorlog.CategoryAccess, Priority: doorlog.PriorityLow, Model: []byte(`{"lock":1}`), SourceID: "a"}
	first := storetest.MustAppend(t, db, ev)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openAt(t, path)
	for _, check := range []func() error{
		func() error { _, err := db.FindSite(t.Context(), "s1"); return err },
		func() error { _, err := db.FindDevice(t.Context(), storetest.DeviceID(1)); return err },
		func() error { _, err := db.FindAccount(t.Context(), "root"); return err },
		func() error { _, err := db.FindToken(t.Context(), "t1"); return err },
	} {
		if err := check(); err != nil {
			t.Errorf("after reopening: %v", err)
		}
	}
	got := storetest.MustList(t, db, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}}})
	if len(got) != 1 || got[0].ID != first[0].ID || got[0].SiteID != "s1" || got[0].Key != ev.Key {
		t.Fatalf("after reopening: got %v, want the one event %s", got, first[0].ID)
	}
	// The source id is still known, and the next id is past the old ones.
	res := storetest.MustAppend(t, db, ev, doorlog.Event{Time: storetest.T0, Key: "incoming_call",
		Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow})
	if !res[0].Duplicate {
		t.Errorf("after reopening: a retried event was stored again")
	}
	if res[1].ID <= first[0].ID {
		t.Errorf("after reopening: new id %q, want it after %q", res[1].ID, first[0].ID)
	}
}

// TestSecondProcess is the CLI case: `doorlog token create` opens the file
// the server has open and writes to it, and the server sees what it wrote.
func TestSecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorlog.db")
	server := openAt(t, path)
	storetest.MustCreateSite(t, server, "s1")
	storetest.MustAppend(t, server, doorlog.Event{Time: storetest.T0, Key: "successful_login_api_call",
		Category: doorlog.CategorySystem, Priority: doorlog.PriorityLow})

	cli := openAt(t, path)
	tok := &doorlog.Token{ID: "cli", SecretHash: []byte("h"), Role: doorlog.RoleAdmin}
	if err := cli.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken from the second opener: %v", err)
	}
	if _, err := server.FindToken(t.Context(), "cli"); err != nil {
		t.Errorf("the server cannot find the CLI's token: %v", err)
	}

	// A device, a key and events the server's caches have never seen.
	storetest.MustCreateDevice(t, cli, "s1", 5)
	res := storetest.MustAppend(t, cli, doorlog.Event{DeviceID: storetest.DeviceID(5), Time: storetest.T0,
		Key: "brand_new_key", Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, SourceID: "x"})
	got := storetest.MustList(t, server, doorlog.EventQuery{Filter: doorlog.EventFilter{
		Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, DeviceIDs: []string{storetest.DeviceID(5)}, Keys: []string{"brand_new_key"}}})
	if len(got) != 1 || got[0].ID != res[0].ID || got[0].DeviceID != storetest.DeviceID(5) || got[0].Key != "brand_new_key" {
		t.Errorf("the server lists %v, want the CLI's event %s", got, res[0].ID)
	}
	again := storetest.MustAppend(t, server, doorlog.Event{DeviceID: storetest.DeviceID(5), Time: storetest.T0,
		Key: "brand_new_key", Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, SourceID: "x"})
	if !again[0].Duplicate {
		t.Errorf("the server stored again an event the CLI stored")
	}

	// Both write at once: busy_timeout makes them take turns.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, db := range []*DB{server, cli} {
		wg.Go(func() {
			for j := range 20 {
				batch := make([]doorlog.Event, 50)
				for k := range batch {
					batch[k] = doorlog.Event{DeviceID: storetest.DeviceID(5), Time: storetest.T0.Add(time.Duration(k) * time.Millisecond),
						Key: fmt.Sprintf("key_%d", k%3), Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow,
						SourceID: fmt.Sprintf("p%d-%d-%d", i, j, k)}
				}
				if _, err := db.AppendEvents(t.Context(), batch); err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := storetest.MustCount(t, server, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}); n != 2+2*20*50 {
		t.Errorf("after both wrote: got %d events, want %d", n, 2+2*20*50)
	}
}

// TestAppendFailsInTransaction makes an insert fail after the batch's new
// keys were added, and checks that neither the rows nor the key cache keep
// anything of it: a remembered code of a rolled-back key would later be
// reused by another key and mislabel events.
func TestAppendFailsInTransaction(t *testing.T) {
	db := openTemp(t)
	if _, err := db.w.ExecContext(t.Context(), `CREATE TEMP TRIGGER boom BEFORE INSERT ON event_bodies
		WHEN NEW.source_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	ev := func(key, src string) doorlog.Event {
		return doorlog.Event{Time: storetest.T0, Key: key, Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, SourceID: src}
	}
	_, err := db.AppendEvents(t.Context(), []doorlog.Event{ev("rolled_back", "a"), ev("also_rolled_back", "boom")})
	if err == nil {
		t.Fatal("AppendEvents through the failing trigger: got no error")
	}
	if msg := doorlog.ErrorMessage(err); strings.Contains(msg, "boom") || strings.Contains(msg, "INSERT") {
		t.Errorf("error message %q shows internals", msg)
	}
	if n := storetest.MustCount(t, db, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}); n != 0 {
		t.Errorf("after a failed append: got %d events, want 0", n)
	}
	storetest.MustAppend(t, db, ev("other", "b"))
	storetest.MustAppend(t, db, ev("rolled_back", "a"))
	got := storetest.MustList(t, db, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}}})
	var keys []string
	for _, e := range got {
		keys = append(keys, e.Key)
	}
	if want := []string{"other", "rolled_back"}; !slices.Equal(keys, want) {
		t.Errorf("keys of the listed events: got %q, want %q", keys, want)
	}
}

// TestMessagesHideSQL checks that what an API would show says what went
// wrong without SQL.
func TestMessagesHideSQL(t *testing.T) {
	db := openTemp(t)
	storetest.MustCreateSite(t, db, "s1")
	err := db.CreateSite(t.Context(), &doorlog.Site{ID: "s1", Name: "again"})
	msg := doorlog.ErrorMessage(err)
	if msg != `site "s1" already exists` {
		t.Errorf("conflict message: got %q, want %q", msg, `site "s1" already exists`)
	}
	// An unexpected constraint failure is mapped too.
	_, err = db.w.ExecContext(t.Context(), `INSERT INTO sites (id, name, created_ms) VALUES ('s1', 'x', 0)`)
	err = wrap("create site", err)
	if got := doorlog.ErrorCode(err); got != doorlog.ECONFLICT {
		t.Errorf("wrapped unique violation: got code %q, want %q", got, doorlog.ECONFLICT)
	}
	if msg := doorlog.ErrorMessage(err); strings.Contains(strings.ToUpper(msg), "UNIQUE") || strings.Contains(msg, "sites.id") {
		t.Errorf("wrapped unique violation: message %q shows SQL details", msg)
	}
}

// TestQueryPlans guards the layout: the listings the APIs make must walk
// the table's (time_ms, seq) key, the seq index or a device's runs in order
// instead of sorting or scanning everything.
func TestQueryPlans(t *testing.T) {
	db := openTemp(t)
	tests := []struct {
		name, query string
		want        string
	}{
		{"all asc", "SELECT seq FROM events ORDER BY time_ms ASC, seq ASC LIMIT 50", "SCAN events"},
		{"all desc after cursor", "SELECT seq FROM events WHERE (time_ms, seq) < (1, 2) ORDER BY time_ms DESC, seq DESC LIMIT 50", "SEARCH events USING PRIMARY KEY ((time_ms,seq)<(?,?))"},
		{"kind and window", "SELECT seq FROM events WHERE time_ms BETWEEN 1 AND 2 AND kind IN (1) ORDER BY time_ms ASC, seq ASC LIMIT 50", "SEARCH events USING PRIMARY KEY (time_ms>? AND time_ms<?)"},
		{"devices of a site", "SELECT seq FROM events WHERE device IN (1, 2) AND (time_ms, seq) > (1, 2) ORDER BY time_ms ASC, seq ASC LIMIT 50", "SEARCH events USING PRIMARY KEY ((time_ms,seq)>(?,?))"},
		{"arrival order", "SELECT seq FROM event_bodies WHERE seq > 5 ORDER BY seq LIMIT 50", "SEARCH event_bodies USING INTEGER PRIMARY KEY (rowid>?)"},
		{"device runs of a day", "SELECT data FROM device_runs WHERE device IN (1, 2) AND day BETWEEN 3 AND 3", "SEARCH device_runs USING PRIMARY KEY (device=? AND day>? AND day<?)"},
		{"rows of a page", "SELECT model FROM event_bodies WHERE seq IN (1, 2)", "SEARCH event_bodies USING INTEGER PRIMARY KEY (rowid=?)"},
		// Lists longer than maxInlineCodes go as one JSON array.
		{"thousands of kinds and window", "SELECT seq FROM events WHERE time_ms BETWEEN 1 AND 2 AND kind IN (SELECT value FROM json_each('[1,2]')) ORDER BY time_ms ASC, seq ASC LIMIT 50", "SEARCH events USING PRIMARY KEY (time_ms>? AND time_ms<?)"},
		{"device runs of thousands of devices", "SELECT data FROM device_runs WHERE device IN (SELECT value FROM json_each('[1,2]')) AND day BETWEEN 3 AND 3", "SEARCH device_runs USING PRIMARY KEY (device=? AND day>? AND day<?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			text := strings.Join(plan, "; ")
			if !strings.Contains(text, tt.want) || strings.Contains(text, "TEMP B-TREE") {
				t.Errorf("plan: got %q, want %q and no sort", text, tt.want)
			}
		})
	}
}

// benchModel is a realistic ~150-byte model.
func benchModel(i int) []byte {
	return fmt.Appendf(nil, `{"identifier":{"number":"%010d","type":"card"},"owner":"Ivan Petrenko","apartment_address":"Building 3, flat %d","lock":1,"requestor":"web_ui"}`, i, i%500)
}

var benchKeys = []struct {
	key      string
	category doorlog.Category
	priority doorlog.Priority
}{
	{"access_granted_by_valid_identifier", doorlog.CategoryAccess, doorlog.PriorityMedium},
	{"access_denied_by_unknown_card", doorlog.CategoryAccess, doorlog.PriorityHigh},
	{"door_was_opened", doorlog.CategoryAccess, doorlog.PriorityLow},
	{"incoming_call", doorlog.CategoryInfo, doorlog.PriorityLow},
	{"tamper_event", doorlog.CategoryEmergency, doorlog.PriorityCritical},
}

// benchBatch returns batch number b of n events over 10 devices.
func benchBatch(b, n int) []doorlog.Event {
	events := make([]doorlog.Event, n)
	for i := range events {
		seq := b*n + i
		k := benchKeys[seq%len(benchKeys)]
		events[i] = doorlog.Event{
			DeviceID: storetest.DeviceID(seq%10 + 1),
			Time:     storetest.T0.Add(time.Duration(seq) * 750 * time.Millisecond),
			Key:      k.key, Category: k.category, Priority: k.priority,
			Model:    benchModel(seq),
			SourceID: fmt.Sprint(seq),
		}
	}
	return events
}

func benchStore(b testing.TB) *DB {
	db := openTemp(b)
	storetest.MustCreateSite(b, db, "s1")
	storetest.MustCreateSite(b, db, "s2")
	for d := 1; d <= 10; d++ {
		storetest.MustCreateDevice(b, db, []string{"s1", "s2"}[d%2], d)
	}
	return db
}

// BenchmarkAppend measures one durable append of 1000 events.
func BenchmarkAppend(b *testing.B) {
	db := benchStore(b)
	const n = 1000
	batches := make([][]doorlog.Event, 0, 64)
	for i := range cap(batches) {
		batches = append(batches, benchBatch(i, n))
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		batch := batches[i%len(batches)]
		if i >= len(batches) {
			// Fresh source ids: measure stores, not duplicates.
			batch = benchBatch(i, n)
		}
		if _, err := db.AppendEvents(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkListPage measures a filtered page of 50 over 100k events, at the
// start and deep in the listing, the way the BAS-IP API pages.
func BenchmarkListPage(b *testing.B) {
	db := benchStore(b)
	for i := range 100 {
		if _, err := db.AppendEvents(context.Background(), benchBatch(i, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	all := doorlog.Scope{All: true}
	site := doorlog.Scope{SiteIDs: []string{"s1"}}
	tests := []struct {
		name string
		q    doorlog.EventQuery
	}{
		{"all/offset0", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}, Limit: 50}},
		{"all/offset50000", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}, Limit: 50, Offset: 50000}},
		{"category/offset0", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}}, Limit: 50}},
		{"category/offset10000", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}}, Limit: 50, Offset: 10000}},
		{"key+window/desc/offset0", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, Keys: []string{"access_denied_by_unknown_card"},
			From: storetest.T0.Add(10 * time.Hour), To: storetest.T0.Add(15 * time.Hour)}, Order: doorlog.Desc, Limit: 50}},
		{"site/desc/offset0", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: site}, Order: doorlog.Desc, Limit: 50}},
		{"site/desc/offset25000", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: site}, Order: doorlog.Desc, Limit: 50, Offset: 25000}},
		{"device/desc/offset0", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, DeviceIDs: []string{storetest.DeviceID(3)}}, Order: doorlog.Desc, Limit: 50}},
		{"device/desc/offset5000", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, DeviceIDs: []string{storetest.DeviceID(3)}}, Order: doorlog.Desc, Limit: 50, Offset: 5000}},
		{"all/cursor-deep", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}, Limit: 50,
			After: &doorlog.EventCursor{Time: storetest.T0.Add(50000 * 750 * time.Millisecond), ID: doorlog.FormatEventID(50000)}}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				page, err := db.ListEvents(context.Background(), tt.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(page) != 50 {
					b.Fatalf("got %d events, want 50", len(page))
				}
			}
		})
	}
	b.Run("count/category", func(b *testing.B) {
		f := doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}}
		for b.Loop() {
			if _, err := db.CountEvents(context.Background(), f); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestServerKeyReopen checks that a server key survives a restart, so the
// cursors signed with it stay valid, and that each name has its own key.
func TestServerKeyReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorlog.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.ServerKey(t.Context(), "native-cursor")
	if err != nil {
		t.Fatalf("ServerKey: %v", err)
	}
	other, err := db.ServerKey(t.Context(), "other")
	if err != nil {
		t.Fatalf("ServerKey(other): %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openAt(t, path)
	for _, tt := range []struct {
		name string
		want []byte
	}{{"native-cursor", first}, {"other", other}} {
		got, err := db.ServerKey(t.Context(), tt.name)
		if err != nil {
			t.Fatalf("ServerKey(%q) after reopening: %v", tt.name, err)
		}
		if len(got) != 32 || string(got) != string(tt.want) {
			t.Errorf("ServerKey(%q) after reopening: got %x, want %x", tt.name, got, tt.want)
		}
	}
	if string(first) == string(other) {
		t.Errorf("two names share the key %x", first)
	}
}

// TestMalformedStoredModel checks that a stored model that is not JSON (a
// row written by another program, or a future bug) never makes a listing
// with model filters fail: the JSON filters skip it and the text filter
// still searches its bytes.
func TestMalformedStoredModel(t *testing.T) {
	db := openTemp(t)
	storetest.MustCreateSite(t, db, "s1")
	storetest.MustCreateDevice(t, db, "s1", 1)
	ev := func(model string) doorlog.Event {
		return doorlog.Event{DeviceID: storetest.DeviceID(1), Time: storetest.T0, Key: "access_granted_by_valid_identifier",
			Category: doorlog.CategoryAccess, Priority: doorlog.PriorityMedium, Model: []byte(model)}
	}
	res := storetest.MustAppend(t, db,
		ev(`{"number":12345,"type":"card"}`),
		ev(`{"number":1}`),
		ev(`{"number":2}`),
		ev(`{"number":3}`),
		ev(`{"number":4}`),
		ev(`{"number":5}`),
	)
	bad := []string{`not json at all, number 12345`, `{"number":12345,"type":"card"`, "", "\x00\x01\x02", `{"a":12}`}
	for i, model := range bad {
		seq, _ := doorlog.ParseEventID(res[i+1].ID)
		// As a BLOB, the way the store writes models. {"a":12} is valid
		// JSON text whose first byte and length also form a JSONB array
		// header: the store must read models as text, never as JSONB.
		if _, err := db.w.ExecContext(t.Context(), `UPDATE event_bodies SET model = ? WHERE seq = ?`, []byte(model), seq); err != nil {
			t.Fatal(err)
		}
	}
	all := doorlog.Scope{All: true}
	tests := []struct {
		name   string
		filter doorlog.EventFilter
		want   []string
	}{
		{"number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}}, []string{res[0].ID}},
		{"type", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"card"}}, []string{res[0].ID}},
		{"text", doorlog.EventFilter{Scope: all, Text: "NUMBER 12345"}, []string{res[1].ID}},
		{"text and type", doorlog.EventFilter{Scope: all, Text: "12345", IdentifierTypes: []string{"card", "qr"}}, []string{res[0].ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := storetest.MustList(t, db, doorlog.EventQuery{Filter: tt.filter})
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ListEvents: got %q, want %q", ids, tt.want)
			}
			if n := storetest.MustCount(t, db, tt.filter); n != int64(len(tt.want)) {
				t.Errorf("CountEvents: got %d, want %d", n, len(tt.want))
			}
			after := storetest.MustEventsAfter(t, db, tt.filter, "", 0)
			if len(after) != len(tt.want) {
				t.Errorf("EventsAfter: got %d events, want %d", len(after), len(tt.want))
			}
		})
	}
}

// TestAppendChunks appends more events than one INSERT statement carries,
// with duplicates of stored events and of events earlier in the call (in
// the same chunk and across chunks) and events without a source id, and
// checks every result against a row-by-row model of the store.
func TestAppendChunks(t *testing.T) {
	db := benchStore(t)
	ctx := context.Background()
	if _, err := db.AppendEvents(ctx, benchBatch(0, 10)); err != nil {
		t.Fatal(err)
	}
	events := benchBatch(1, 3*insertChunk+57)
	seen := map[string]bool{}
	for i := range 10 {
		seen[storetest.DeviceID(i%10+1)+"/"+fmt.Sprint(i)] = true
	}
	for i := range events {
		switch {
		case i%7 == 0:
			events[i].SourceID = "" // never a duplicate
		case i%11 == 0:
			events[i].SourceID = fmt.Sprint(i % 10) // stored before, same device
		case i%13 == 0 && i > 300:
			events[i].SourceID = events[i-insertChunk-13].SourceID // earlier in the call
			events[i].DeviceID = events[i-insertChunk-13].DeviceID
		case i%17 == 0 && i > 0:
			events[i].SourceID = events[i-1].SourceID // earlier in the same chunk
			events[i].DeviceID = events[i-1].DeviceID
		}
	}
	want := make([]bool, len(events))
	for i, e := range events {
		if e.SourceID == "" {
			continue
		}
		k := e.DeviceID + "/" + e.SourceID
		want[i] = seen[k]
		seen[k] = true
	}
	res, err := db.AppendEvents(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	stored := 0
	for i, r := range res {
		if r.Duplicate != want[i] {
			t.Fatalf("event %d: got duplicate %v, want %v", i, r.Duplicate, want[i])
		}
		if r.Duplicate {
			if r.ID != "" {
				t.Fatalf("event %d: got id %q for a duplicate", i, r.ID)
			}
			continue
		}
		stored++
		seq, err := doorlog.ParseEventID(r.ID)
		if err != nil || seq <= last {
			t.Fatalf("event %d: got id %q (seq %d) after seq %d, want increasing ids", i, r.ID, seq, last)
		}
		last = seq
	}
	// Every id must name the event it was given for.
	got, err := db.EventsAfter(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10+stored {
		t.Fatalf("got %d events stored, want %d", len(got), 10+stored)
	}
	byID := map[string]doorlog.Event{}
	for _, e := range got {
		byID[e.ID] = e
	}
	for i, r := range res {
		if r.Duplicate {
			continue
		}
		e, ok := byID[r.ID]
		if !ok || e.DeviceID != events[i].DeviceID || e.SourceID != events[i].SourceID || !e.Time.Equal(events[i].Time) {
			t.Fatalf("event %d: id %s names %+v, want %+v", i, r.ID, e, events[i])
		}
	}
}
