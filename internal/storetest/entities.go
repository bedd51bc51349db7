package storetest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

func testSites(t *testing.T, open Opener) {
	s := open(t)
	created := time.Date(2023, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	site := &doorlog.Site{ID: "acme-1", Name: "Acme Tower", CreatedAt: created}
	mustOK(t, "CreateSite", s.CreateSite(ctx(t), site))
	if !site.CreatedAt.Equal(doorlog.TruncateMillis(created)) {
		t.Errorf("CreateSite wrote back CreatedAt %v, want %v", site.CreatedAt, doorlog.TruncateMillis(created))
	}

	got, err := s.FindSite(ctx(t), "acme-1")
	mustOK(t, "FindSite", err)
	if got.ID != "acme-1" || got.Name != "Acme Tower" || !got.CreatedAt.Equal(doorlog.TruncateMillis(created)) {
		t.Errorf("FindSite: got %+v, want ID acme-1, Name Acme Tower, CreatedAt %v", got, doorlog.TruncateMillis(created))
	}

	now := &doorlog.Site{ID: "now", Name: "Created now"}
	before := time.Now().Add(-time.Second)
	mustOK(t, "CreateSite without CreatedAt", s.CreateSite(ctx(t), now))
	if now.CreatedAt.Before(before) || now.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreateSite without CreatedAt: got CreatedAt %v, want about now", now.CreatedAt)
	}
	got, err = s.FindSite(ctx(t), "now")
	mustOK(t, "FindSite(now)", err)
	if !got.CreatedAt.Equal(now.CreatedAt) {
		t.Errorf("FindSite(now): got CreatedAt %v, want %v", got.CreatedAt, now.CreatedAt)
	}

	errs := []struct {
		name string
		site doorlog.Site
		code string
	}{
		{"duplicate", doorlog.Site{ID: "acme-1", Name: "Other"}, doorlog.ECONFLICT},
		{"empty id", doorlog.Site{ID: "", Name: "No id"}, doorlog.EINVALID},
		{"bad id", doorlog.Site{ID: "a b", Name: "Space"}, doorlog.EINVALID},
		{"empty name", doorlog.Site{ID: "noname"}, doorlog.EINVALID},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			site := tt.site
			wantCode(t, "CreateSite", s.CreateSite(ctx(t), &site), tt.code)
		})
	}
	got, err = s.FindSite(ctx(t), "acme-1")
	mustOK(t, "FindSite after duplicate", err)
	if got.Name != "Acme Tower" {
		t.Errorf("after a duplicate CreateSite: got name %q, want %q", got.Name, "Acme Tower")
	}

	for _, id := range []string{"missing", "", "ACME-1"} {
		got, err := s.FindSite(ctx(t), id)
		wantCode(t, "FindSite("+id+")", err, doorlog.ENOTFOUND)
		if got != nil {
			t.Errorf("FindSite(%q): got %+v, want nil", id, got)
		}
	}
}

func testListSites(t *testing.T, open Opener) {
	s := open(t)
	for _, id := range []string{"c", "a", "b"} {
		MustCreateSite(t, s, id)
	}
	tests := []struct {
		name  string
		scope doorlog.Scope
		want  []string
	}{
		{"zero scope", doorlog.Scope{}, nil},
		{"all", all, []string{"a", "b", "c"}},
		{"some", doorlog.Scope{SiteIDs: []string{"c", "a"}}, []string{"a", "c"}},
		{"unknown ignored", doorlog.Scope{SiteIDs: []string{"b", "zz"}}, []string{"b"}},
		{"only unknown", doorlog.Scope{SiteIDs: []string{"zz"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sites, err := s.ListSites(ctx(t), tt.scope)
			mustOK(t, "ListSites", err)
			var got []string
			for _, site := range sites {
				got = append(got, site.ID)
				if site.Name != "Site "+site.ID || site.CreatedAt.IsZero() {
					t.Errorf("ListSites: got %+v, want Name %q and a CreatedAt", site, "Site "+site.ID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ListSites(%+v): got %q, want %q", tt.scope, got, tt.want)
			}
		})
	}
}

func testDevices(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	upper := strings.ToUpper(DeviceID(0xabc))
	created := time.Date(2023, 1, 2, 3, 4, 5, 678900000, time.UTC)
	d := &doorlog.Device{ID: upper, SiteID: "s1", Name: "Entrance", Model: "AV-07T", CreatedAt: created}
	mustOK(t, "CreateDevice", s.CreateDevice(ctx(t), d))
	if d.ID != DeviceID(0xabc) {
		t.Errorf("CreateDevice wrote back ID %q, want canonical %q", d.ID, DeviceID(0xabc))
	}
	want := doorlog.Device{ID: DeviceID(0xabc), SiteID: "s1", Name: "Entrance", Model: "AV-07T", CreatedAt: doorlog.TruncateMillis(created)}
	for _, id := range []string{DeviceID(0xabc), upper} {
		got, err := s.FindDevice(ctx(t), id)
		mustOK(t, "FindDevice("+id+")", err)
		if got.ID != want.ID || got.SiteID != want.SiteID || got.Name != want.Name || got.Model != want.Model || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("FindDevice(%q): got %+v, want %+v", id, *got, want)
		}
	}

	errs := []struct {
		name   string
		device doorlog.Device
		code   string
	}{
		{"duplicate", doorlog.Device{ID: DeviceID(0xabc), SiteID: "s1", Name: "Again"}, doorlog.ECONFLICT},
		{"duplicate other spelling", doorlog.Device{ID: upper, SiteID: "s1", Name: "Again"}, doorlog.ECONFLICT},
		{"unknown site", doorlog.Device{ID: DeviceID(2), SiteID: "nope", Name: "Lost"}, doorlog.EINVALID},
		{"bad id", doorlog.Device{ID: "not-a-uuid", SiteID: "s1", Name: "Bad"}, doorlog.EINVALID},
		{"no name", doorlog.Device{ID: DeviceID(3), SiteID: "s1"}, doorlog.EINVALID},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			dev := tt.device
			wantCode(t, "CreateDevice", s.CreateDevice(ctx(t), &dev), tt.code)
		})
	}
	for _, id := range []string{DeviceID(2), "", "not-a-uuid"} {
		got, err := s.FindDevice(ctx(t), id)
		wantCode(t, "FindDevice("+id+")", err, doorlog.ENOTFOUND)
		if got != nil {
			t.Errorf("FindDevice(%q): got %+v, want nil", id, got)
		}
	}
}

// testUpdateDevice changes a device's name, model and listen address,
// and checks what may not change or clash.
func testUpdateDevice(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	created := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	a := &doorlog.Device{ID: DeviceID(1), SiteID: "s1", Name: "Gate", Model: "AA-12", Listen: "127.0.0.2:80", CreatedAt: created}
	mustOK(t, "CreateDevice with a listen address", s.CreateDevice(ctx(t), a))
	b := &doorlog.Device{ID: DeviceID(2), SiteID: "s1", Name: "Lobby", Listen: "127.0.0.2:80"}
	wantCode(t, "CreateDevice on a taken listen address", s.CreateDevice(ctx(t), b), doorlog.ECONFLICT)
	b.Listen = "[::FFFF:127.0.0.3]:0080"
	mustOK(t, "CreateDevice with another listen address", s.CreateDevice(ctx(t), b))
	if b.Listen != "127.0.0.3:80" {
		t.Errorf("CreateDevice wrote back listen %q, want the canonical 127.0.0.3:80", b.Listen)
	}

	up := &doorlog.Device{ID: strings.ToUpper(DeviceID(1)), SiteID: "s1", Name: "Main gate", Model: "AV-07T", Listen: "[2001:db8::1]:8080"}
	mustOK(t, "UpdateDevice", s.UpdateDevice(ctx(t), up))
	got, err := s.FindDevice(ctx(t), DeviceID(1))
	mustOK(t, "FindDevice after UpdateDevice", err)
	want := doorlog.Device{ID: DeviceID(1), SiteID: "s1", Name: "Main gate", Model: "AV-07T", Listen: "[2001:db8::1]:8080", CreatedAt: created}
	if *got != want || up.ID != want.ID || !up.CreatedAt.Equal(created) {
		t.Errorf("after UpdateDevice: got %+v (written back %+v), want %+v", *got, *up, want)
	}
	// The address it left is free again; removing one frees it too.
	c := &doorlog.Device{ID: DeviceID(3), SiteID: "s1", Name: "Garage", Listen: "127.0.0.2:80"}
	mustOK(t, "CreateDevice on a freed listen address", s.CreateDevice(ctx(t), c))
	b.Listen = ""
	mustOK(t, "UpdateDevice removing the listen address", s.UpdateDevice(ctx(t), b))
	c.Listen = "127.0.0.3:80"
	mustOK(t, "UpdateDevice to an address just freed", s.UpdateDevice(ctx(t), c))

	for _, tt := range []struct {
		name string
		d    doorlog.Device
		code string
	}{
		{"taken address", doorlog.Device{ID: DeviceID(1), SiteID: "s1", Name: "Gate", Listen: "127.0.0.3:80"}, doorlog.ECONFLICT},
		{"another site", doorlog.Device{ID: DeviceID(1), SiteID: "s2", Name: "Gate"}, doorlog.EINVALID},
		{"no name", doorlog.Device{ID: DeviceID(1), SiteID: "s1"}, doorlog.EINVALID},
		{"a host name", doorlog.Device{ID: DeviceID(1), SiteID: "s1", Name: "Gate", Listen: "panel.example:80"}, doorlog.EINVALID},
		{"no port", doorlog.Device{ID: DeviceID(1), SiteID: "s1", Name: "Gate", Listen: "127.0.0.9"}, doorlog.EINVALID},
		{"port 0", doorlog.Device{ID: DeviceID(1), SiteID: "s1", Name: "Gate", Listen: "127.0.0.9:0"}, doorlog.EINVALID},
		{"unknown device", doorlog.Device{ID: DeviceID(9), SiteID: "s1", Name: "Ghost"}, doorlog.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			wantCode(t, "UpdateDevice", s.UpdateDevice(ctx(t), &d), tt.code)
		})
	}
	got, err = s.FindDevice(ctx(t), DeviceID(1))
	mustOK(t, "FindDevice after refused updates", err)
	if *got != want {
		t.Errorf("after refused updates: got %+v, want it unchanged, %+v", *got, want)
	}

	// A pull source: kept as given (the password's sealed bytes exactly),
	// replaced, removed; a bad one refused.
	pull := &doorlog.PullSource{URL: "http://192.0.2.10", Username: "admin", SealedPassword: []byte{0, 1, 2, 250, 251}}
	d := &doorlog.Device{ID: DeviceID(5), SiteID: "s2", Name: "Pulled", Pull: pull}
	mustOK(t, "CreateDevice with a pull source", s.CreateDevice(ctx(t), d))
	got, err = s.FindDevice(ctx(t), DeviceID(5))
	mustOK(t, "FindDevice of a pulled device", err)
	if got.Pull == nil || got.Pull.URL != pull.URL || got.Pull.Username != pull.Username || !bytes.Equal(got.Pull.SealedPassword, pull.SealedPassword) {
		t.Errorf("pull source: got %+v, want %+v", got.Pull, pull)
	}
	d.Pull = &doorlog.PullSource{URL: "https://[2001:db8::5]:8443/", Username: "poller", SealedPassword: []byte("sealed")}
	mustOK(t, "UpdateDevice with another pull source", s.UpdateDevice(ctx(t), d))
	list, err := s.ListDevices(ctx(t), doorlog.DeviceFilter{Scope: all, SiteIDs: []string{"s2"}})
	mustOK(t, "ListDevices", err)
	if len(list) != 1 || list[0].Pull == nil || list[0].Pull.Username != "poller" || string(list[0].Pull.SealedPassword) != "sealed" {
		t.Errorf("ListDevices after the pull source changed: got %+v", list)
	}
	d.Pull = nil
	mustOK(t, "UpdateDevice without a pull source", s.UpdateDevice(ctx(t), d))
	if got, err = s.FindDevice(ctx(t), DeviceID(5)); err != nil || got.Pull != nil {
		t.Errorf("after the pull source was removed: got %+v, %v", got, err)
	}
	for _, p := range []doorlog.PullSource{
		{URL: "ftp://192.0.2.10", Username: "a", SealedPassword: []byte("x")},
		{URL: "http://admin:pw@192.0.2.10", Username: "a", SealedPassword: []byte("x")},
		{URL: "192.0.2.10", Username: "a", SealedPassword: []byte("x")},
		{URL: "http://192.0.2.10", SealedPassword: []byte("x")},
		{URL: "http://192.0.2.10", Username: "a"},
	} {
		d.Pull = &p
		wantCode(t, "UpdateDevice with pull "+p.URL, s.UpdateDevice(ctx(t), d), doorlog.EINVALID)
	}
}

// testCollectorState stores, finds and replaces the collector's state.
func testCollectorState(t *testing.T, open Opener) {
	s := open(t)
	_, err := s.FindCollectorState(ctx(t), DeviceID(1))
	wantCode(t, "FindCollectorState before any", err, doorlog.ENOTFOUND)
	st := &doorlog.CollectorState{DeviceID: DeviceID(1), Position: 1714557600123, Collected: 42, Gaps: 1,
		LastSuccess: T0, LastError: "connection refused", LastErrorAt: T0.Add(-time.Minute)}
	mustOK(t, "SaveCollectorState", s.SaveCollectorState(ctx(t), st))
	got, err := s.FindCollectorState(ctx(t), DeviceID(1))
	mustOK(t, "FindCollectorState", err)
	if got.Position != st.Position || got.Collected != 42 || got.Gaps != 1 || !got.LastSuccess.Equal(T0) || got.LastError != st.LastError || !got.LastErrorAt.Equal(st.LastErrorAt) {
		t.Errorf("FindCollectorState: got %+v, want %+v", got, st)
	}
	st = &doorlog.CollectorState{DeviceID: DeviceID(1), Position: 1714557700000, Collected: 50}
	mustOK(t, "SaveCollectorState again", s.SaveCollectorState(ctx(t), st))
	got, err = s.FindCollectorState(ctx(t), DeviceID(1))
	mustOK(t, "FindCollectorState after a replace", err)
	if got.Position != st.Position || got.Collected != 50 || got.Gaps != 0 || !got.LastSuccess.IsZero() || got.LastError != "" || !got.LastErrorAt.IsZero() {
		t.Errorf("FindCollectorState after a replace: got %+v, want %+v", got, st)
	}
	wantCode(t, "SaveCollectorState without a device", s.SaveCollectorState(ctx(t), &doorlog.CollectorState{}), doorlog.EINVALID)
}

func testListDevices(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateSite(t, s, "s3")
	MustCreateDevice(t, s, "s2", 3)
	MustCreateDevice(t, s, "s1", 2)
	MustCreateDevice(t, s, "s1", 1)
	tests := []struct {
		name   string
		filter doorlog.DeviceFilter
		want   []int
	}{
		{"zero scope", doorlog.DeviceFilter{}, nil},
		{"zero scope with sites", doorlog.DeviceFilter{SiteIDs: []string{"s1"}}, nil},
		{"all", doorlog.DeviceFilter{Scope: all}, []int{1, 2, 3}},
		{"all, one site", doorlog.DeviceFilter{Scope: all, SiteIDs: []string{"s2"}}, []int{3}},
		{"all, empty site", doorlog.DeviceFilter{Scope: all, SiteIDs: []string{"s3"}}, nil},
		{"site scope", doorlog.DeviceFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}}, []int{1, 2}},
		{"site scope, sites outside", doorlog.DeviceFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, SiteIDs: []string{"s2"}}, nil},
		{"site scope, sites partly outside", doorlog.DeviceFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, SiteIDs: []string{"s1", "s2"}}, []int{1, 2}},
		{"unknown site", doorlog.DeviceFilter{Scope: all, SiteIDs: []string{"zz"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devices, err := s.ListDevices(ctx(t), tt.filter)
			mustOK(t, "ListDevices", err)
			var got, want []string
			for _, d := range devices {
				got = append(got, d.ID)
			}
			for _, n := range tt.want {
				want = append(want, DeviceID(n))
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListDevices(%+v): got %q, want %q", tt.filter, got, want)
			}
		})
	}
}

func testAccounts(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	created := time.Date(2022, 2, 3, 4, 5, 6, 7e6, time.UTC)
	accounts := []doorlog.Account{
		{Username: "root", PasswordHash: "$2a$10$abc", Role: doorlog.RoleAdmin, CreatedAt: created},
		{Username: "Manager.Üser", PasswordHash: "$2a$10$def", Role: doorlog.RoleManager, SiteIDs: []string{"s2", "s1", "s2"}, CreatedAt: created},
		{Username: "fresh", PasswordHash: "h", Role: doorlog.RoleManager, SiteIDs: []string{"s1"}},
	}
	for _, a := range accounts {
		t.Run(a.Username, func(t *testing.T) {
			in := a
			in.SiteIDs = slices.Clone(a.SiteIDs)
			mustOK(t, "CreateAccount", s.CreateAccount(ctx(t), &in))
			if in.CreatedAt.IsZero() {
				t.Errorf("CreateAccount: CreatedAt not set")
			}
			got, err := s.FindAccount(ctx(t), a.Username)
			mustOK(t, "FindAccount", err)
			if got.Username != a.Username || got.PasswordHash != a.PasswordHash || got.Role != a.Role {
				t.Errorf("FindAccount: got %q %q %q, want %q %q %q", got.Username, got.PasswordHash, got.Role, a.Username, a.PasswordHash, a.Role)
			}
			if w := sortedSet(a.SiteIDs); !slices.Equal(got.SiteIDs, w) && !(len(got.SiteIDs) == 0 && len(w) == 0) {
				t.Errorf("FindAccount: got SiteIDs %q, want %q", got.SiteIDs, w)
			}
			if !got.CreatedAt.Equal(in.CreatedAt) {
				t.Errorf("FindAccount: got CreatedAt %v, want %v", got.CreatedAt, in.CreatedAt)
			}
		})
	}

	errs := []struct {
		name    string
		account doorlog.Account
		code    string
	}{
		{"duplicate", doorlog.Account{Username: "root", PasswordHash: "x", Role: doorlog.RoleManager}, doorlog.ECONFLICT},
		{"empty username", doorlog.Account{PasswordHash: "x", Role: doorlog.RoleAdmin}, doorlog.EINVALID},
		{"bad role", doorlog.Account{Username: "dev", PasswordHash: "x", Role: doorlog.RoleDevice}, doorlog.EINVALID},
		{"unknown site", doorlog.Account{Username: "lost", PasswordHash: "x", Role: doorlog.RoleManager, SiteIDs: []string{"s1", "nope"}}, doorlog.EINVALID},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.account
			wantCode(t, "CreateAccount", s.CreateAccount(ctx(t), &a), tt.code)
		})
	}
	got, err := s.FindAccount(ctx(t), "root")
	mustOK(t, "FindAccount(root)", err)
	if got.Role != doorlog.RoleAdmin {
		t.Errorf("after a duplicate CreateAccount: got role %q, want %q", got.Role, doorlog.RoleAdmin)
	}
	for _, name := range []string{"lost", "nobody", "ROOT", ""} {
		got, err := s.FindAccount(ctx(t), name)
		wantCode(t, "FindAccount("+name+")", err, doorlog.ENOTFOUND)
		if got != nil {
			t.Errorf("FindAccount(%q): got %+v, want nil", name, got)
		}
	}
}

func testTokens(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateDevice(t, s, "s1", 7)
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := time.Date(2024, 1, 2, 3, 4, 5, 999999999, time.UTC)
	tokens := []doorlog.Token{
		{ID: "admin-all", SecretHash: []byte{0, 1, 2, 255, 0}, Role: doorlog.RoleAdmin, CreatedAt: created},
		{ID: "mgr", SecretHash: bytes.Repeat([]byte{0xab}, 32), Role: doorlog.RoleManager, SiteIDs: []string{"s2", "s1"}, Username: "alice", CreatedAt: created, ExpiresAt: expires},
		{ID: "dev", SecretHash: []byte("h"), Role: doorlog.RoleDevice, DeviceID: strings.ToUpper(DeviceID(7))},
	}
	for _, tok := range tokens {
		t.Run(tok.ID, func(t *testing.T) {
			in := tok
			in.SiteIDs = slices.Clone(tok.SiteIDs)
			mustOK(t, "CreateToken", s.CreateToken(ctx(t), &in))
			got, err := s.FindToken(ctx(t), tok.ID)
			mustOK(t, "FindToken", err)
			if got.ID != tok.ID {
				t.Errorf("ID: got %q, want %q", got.ID, tok.ID)
			}
			if !bytes.Equal(got.SecretHash, tok.SecretHash) {
				t.Errorf("SecretHash: got %x, want %x", got.SecretHash, tok.SecretHash)
			}
			if got.Role != tok.Role {
				t.Errorf("Role: got %q, want %q", got.Role, tok.Role)
			}
			if w := sortedSet(tok.SiteIDs); !slices.Equal(got.SiteIDs, w) && !(len(got.SiteIDs) == 0 && len(w) == 0) {
				t.Errorf("SiteIDs: got %q, want %q", got.SiteIDs, w)
			}
			wantDevice := strings.ToLower(tok.DeviceID)
			if got.DeviceID != wantDevice || in.DeviceID != wantDevice {
				t.Errorf("DeviceID: got %q (written back %q), want %q", got.DeviceID, in.DeviceID, wantDevice)
			}
			if got.Username != tok.Username {
				t.Errorf("Username: got %q, want %q", got.Username, tok.Username)
			}
			if !got.CreatedAt.Equal(in.CreatedAt) || in.CreatedAt.IsZero() {
				t.Errorf("CreatedAt: got %v, want %v", got.CreatedAt, in.CreatedAt)
			}
			if !tok.CreatedAt.IsZero() && !got.CreatedAt.Equal(tok.CreatedAt) {
				t.Errorf("CreatedAt: got %v, want %v", got.CreatedAt, tok.CreatedAt)
			}
			wantExp := time.Time{}
			if !tok.ExpiresAt.IsZero() {
				wantExp = doorlog.TruncateMillis(tok.ExpiresAt)
			}
			if !got.ExpiresAt.Equal(wantExp) || got.ExpiresAt.IsZero() != wantExp.IsZero() {
				t.Errorf("ExpiresAt: got %v, want %v", got.ExpiresAt, wantExp)
			}
			if got.Scope().All != tok.Scope().All {
				t.Errorf("Scope: got %+v, want %+v", got.Scope(), tok.Scope())
			}
		})
	}

	errs := []struct {
		name  string
		token doorlog.Token
		code  string
	}{
		{"duplicate", doorlog.Token{ID: "mgr", SecretHash: []byte("x"), Role: doorlog.RoleAdmin}, doorlog.ECONFLICT},
		{"empty id", doorlog.Token{SecretHash: []byte("x"), Role: doorlog.RoleAdmin}, doorlog.EINVALID},
		{"no secret", doorlog.Token{ID: "nosecret", Role: doorlog.RoleAdmin}, doorlog.EINVALID},
		{"bad role", doorlog.Token{ID: "badrole", SecretHash: []byte("x"), Role: "root"}, doorlog.EINVALID},
		{"unknown site", doorlog.Token{ID: "lost", SecretHash: []byte("x"), Role: doorlog.RoleManager, SiteIDs: []string{"nope"}}, doorlog.EINVALID},
		{"device role without device", doorlog.Token{ID: "nodev", SecretHash: []byte("x"), Role: doorlog.RoleDevice}, doorlog.EINVALID},
		{"unknown device", doorlog.Token{ID: "ghost", SecretHash: []byte("x"), Role: doorlog.RoleDevice, DeviceID: DeviceID(99)}, doorlog.EINVALID},
		{"admin with device", doorlog.Token{ID: "mixed", SecretHash: []byte("x"), Role: doorlog.RoleAdmin, DeviceID: DeviceID(7)}, doorlog.EINVALID},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			wantCode(t, "CreateToken", s.CreateToken(ctx(t), &tok), tt.code)
		})
	}
	got, err := s.FindToken(ctx(t), "mgr")
	mustOK(t, "FindToken(mgr)", err)
	if got.Role != doorlog.RoleManager {
		t.Errorf("after a duplicate CreateToken: got role %q, want %q", got.Role, doorlog.RoleManager)
	}
	for _, id := range []string{"lost", "ghost", "none", ""} {
		got, err := s.FindToken(ctx(t), id)
		wantCode(t, "FindToken("+id+")", err, doorlog.ENOTFOUND)
		if got != nil {
			t.Errorf("FindToken(%q): got %+v, want nil", id, got)
		}
	}
}
