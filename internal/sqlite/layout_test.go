package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// TestMigrateEventLayout opens a file written by the schema before 0003
// (events in a rowid table with per-row indexes) and checks that every event
// comes through the change of layout: listed with its key, model, device
// and source id, counted, found by device (whose runs the store builds when
// it opens), and still a duplicate when resent, whatever the form of its
// source id.
func TestMigrateEventLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if _, err := raw.Exec(m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`PRAGMA user_version = 2`)
	exec(`INSERT INTO sites (code, id, name, created_ms) VALUES (1, 's1', 'S1', 0)`)
	exec(`INSERT INTO devices (code, id, site, name, model, created_ms) VALUES (1, ?, 1, 'D1', 'AA-07', 0)`, storetest.DeviceID(1))
	exec(`INSERT INTO event_keys (code, key) VALUES (1, 'access_granted_by_valid_identifier'), (2, 'successful_login_api_call')`)
	const n = 300
	for i := 1; i <= n; i++ {
		src := any(fmt.Sprintf("gate-%d", i)) // counter form
		if i%3 == 0 {
			src = fmt.Sprintf("uuid-%03dx", i) // not counter form
		}
		if i%10 == 0 {
			exec(`INSERT INTO events (time_ms, device, site, key, category, priority, source_id, model) VALUES (?, NULL, NULL, 2, 3, 4, NULL, X'7B7D')`,
				storetest.T0.UnixMilli()+int64(i)*60_000)
			continue
		}
		exec(`INSERT INTO events (time_ms, device, site, key, category, priority, source_id, model) VALUES (?, 1, 1, 1, 1, 3, ?, ?)`,
			storetest.T0.UnixMilli()+int64(i)*3_600_000, src, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := openAt(t, path)
	all := doorlog.EventFilter{Scope: doorlog.Scope{All: true}}
	if got := storetest.MustCount(t, db, all); got != n {
		t.Errorf("count after the migration: got %d, want %d", got, n)
	}
	dev := doorlog.EventFilter{Scope: doorlog.Scope{All: true}, DeviceIDs: []string{storetest.DeviceID(1)}}
	listed := storetest.MustList(t, db, doorlog.EventQuery{Filter: dev, Order: doorlog.Desc, Offset: 5, Limit: 3})
	var got []string
	for _, e := range listed {
		got = append(got, fmt.Sprintf("%s %s %s %s", e.Key, e.Model, e.SourceID, e.SiteID))
	}
	// Device events are i = 1..300 without multiples of 10, newest first:
	// 299, 298, 297, 296, 295, then 294, 293, 292.
	want := []string{
		`access_granted_by_valid_identifier {"n":294} uuid-294x s1`,
		`access_granted_by_valid_identifier {"n":293} gate-293 s1`,
		`access_granted_by_valid_identifier {"n":292} gate-292 s1`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("device page after the migration:\n got %q\nwant %q", got, want)
	}
	if c := storetest.MustCount(t, db, dev); c != n-n/10 {
		t.Errorf("device count: got %d, want %d", c, n-n/10)
	}
	resend := func(src string) doorlog.Event {
		return doorlog.Event{DeviceID: storetest.DeviceID(1), Time: storetest.T0.Add(time.Hour), Key: "access_granted_by_valid_identifier",
			Category: doorlog.CategoryAccess, Priority: doorlog.PriorityMedium, SourceID: src}
	}
	res := storetest.MustAppend(t, db, resend("gate-1"), resend("uuid-003x"), resend("gate-301"), resend("uuid-301x"))
	for i, wantDup := range []bool{true, true, false, false} {
		if res[i].Duplicate != wantDup {
			t.Errorf("resent event %d: duplicate %v, want %v", i, res[i].Duplicate, wantDup)
		}
	}
	if seq, _ := doorlog.ParseEventID(res[2].ID); seq != n+1 {
		t.Errorf("first new id after the migration: got seq %d, want %d", seq, n+1)
	}
}

// TestDeleteToken checks that a deleted token (a logout) is gone for good,
// sites and all, and that deleting it again is ENOTFOUND.
func TestDeleteToken(t *testing.T) {
	db := openTemp(t)
	storetest.MustCreateSite(t, db, "s1")
	tok := &doorlog.Token{ID: "t1", SecretHash: []byte("h"), Role: doorlog.RoleManager, SiteIDs: []string{"s1"}}
	if err := db.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteToken(t.Context(), "t1"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if _, err := db.FindToken(t.Context(), "t1"); doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
		t.Errorf("FindToken after delete: got %v, want ENOTFOUND", err)
	}
	if err := db.DeleteToken(t.Context(), "t1"); doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
		t.Errorf("second DeleteToken: got %v, want ENOTFOUND", err)
	}
}
