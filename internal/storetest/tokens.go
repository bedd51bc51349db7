package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// tokenWorld creates sites s1, s2 and s3, device 7 in s1 and device 8 in
// s2, and seven tokens of every kind, and returns the store with the
// site of each device. The tokens, newest first (d-7 and d-8 were created
// at the same millisecond, so they are ordered by id):
//
//	m-s3    manager of s3, "ann"'s      created T0+6h, never expires
//	d-8     device 8 (site s2)          created T0+5h
//	d-7     device 7 (site s1)          created T0+5h
//	m-s2    manager of s2               created T0+4h, expires T0+10h
//	m-s1s2  manager of s1 and s2        created T0+3h, expires T0+100h
//	a-s1    admin of s1                 created T0+2h
//	a-all   admin of every site         created T0+1h
func tokenWorld(t *testing.T, open Opener) (doorlog.Store, map[string]string) {
	t.Helper()
	s := open(t)
	for _, id := range []string{"s1", "s2", "s3"} {
		MustCreateSite(t, s, id)
	}
	MustCreateDevice(t, s, "s1", 7)
	MustCreateDevice(t, s, "s2", 8)
	h := func(n int) time.Time { return T0.Add(time.Duration(n) * time.Hour) }
	for _, tok := range []doorlog.Token{
		{ID: "a-all", Role: doorlog.RoleAdmin, CreatedAt: h(1)},
		{ID: "a-s1", Role: doorlog.RoleAdmin, SiteIDs: []string{"s1"}, CreatedAt: h(2)},
		{ID: "m-s1s2", Role: doorlog.RoleManager, SiteIDs: []string{"s2", "s1"}, CreatedAt: h(3), ExpiresAt: h(100)},
		{ID: "m-s2", Role: doorlog.RoleManager, SiteIDs: []string{"s2"}, CreatedAt: h(4), ExpiresAt: h(10)},
		{ID: "d-7", Role: doorlog.RoleDevice, DeviceID: DeviceID(7), CreatedAt: h(5)},
		{ID: "d-8", Role: doorlog.RoleDevice, DeviceID: DeviceID(8), CreatedAt: h(5)},
		{ID: "m-s3", Role: doorlog.RoleManager, SiteIDs: []string{"s3"}, Username: "ann", CreatedAt: h(6)},
	} {
		tok.SecretHash = []byte("hash of " + tok.ID)
		mustOK(t, "CreateToken("+tok.ID+")", s.CreateToken(ctx(t), &tok))
	}
	return s, map[string]string{DeviceID(7): "s1", DeviceID(8): "s2"}
}

// tokenIDs returns the ids of tokens, for compact comparisons.
func tokenIDs(tokens []*doorlog.Token) []string {
	ids := make([]string, len(tokens))
	for i, t := range tokens {
		ids[i] = t.ID
	}
	return ids
}

// sameToken reports how got differs from want, or "" when it does not.
func sameToken(got, want *doorlog.Token) string {
	switch {
	case got.ID != want.ID:
		return fmt.Sprintf("ID %q, want %q", got.ID, want.ID)
	case !bytes.Equal(got.SecretHash, want.SecretHash):
		return fmt.Sprintf("SecretHash %x, want %x", got.SecretHash, want.SecretHash)
	case got.Role != want.Role:
		return fmt.Sprintf("Role %q, want %q", got.Role, want.Role)
	case !slices.Equal(got.SiteIDs, want.SiteIDs) && len(got.SiteIDs)+len(want.SiteIDs) > 0:
		return fmt.Sprintf("SiteIDs %q, want %q", got.SiteIDs, want.SiteIDs)
	case got.DeviceID != want.DeviceID:
		return fmt.Sprintf("DeviceID %q, want %q", got.DeviceID, want.DeviceID)
	case got.Username != want.Username:
		return fmt.Sprintf("Username %q, want %q", got.Username, want.Username)
	case !got.CreatedAt.Equal(want.CreatedAt):
		return fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt)
	case !got.ExpiresAt.Equal(want.ExpiresAt):
		return fmt.Sprintf("ExpiresAt %v, want %v", got.ExpiresAt, want.ExpiresAt)
	}
	return ""
}

func testListTokens(t *testing.T, open Opener) {
	s, deviceSite := tokenWorld(t, open)
	h := func(n int) time.Time { return T0.Add(time.Duration(n) * time.Hour) }
	tests := []struct {
		name string
		f    doorlog.TokenFilter
		want []string
	}{
		{"every token", doorlog.TokenFilter{Scope: all}, []string{"m-s3", "d-8", "d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{"confined to s1", doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}}, []string{"d-7", "a-s1"}},
		{"confined to s1 and s2", doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"s2", "s1"}}}, []string{"d-8", "d-7", "m-s2", "m-s1s2", "a-s1"}},
		{"confined to s2 and an unknown site", doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"nope", "s2"}}}, []string{"d-8", "m-s2"}},
		{"confined to an unknown site", doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"nope"}}}, nil},
		{"confined to no site", doorlog.TokenFilter{}, nil},
		{"one id", doorlog.TokenFilter{Scope: all, ID: "m-s2"}, []string{"m-s2"}},
		{"one id outside the scope", doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, ID: "m-s2"}, nil},
		{"an unknown id", doorlog.TokenFilter{Scope: all, ID: "none"}, nil},
		{"active just before an expiry", doorlog.TokenFilter{Scope: all, ActiveAt: h(10).Add(-time.Millisecond)}, []string{"m-s3", "d-8", "d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{"active at an expiry", doorlog.TokenFilter{Scope: all, ActiveAt: h(10)}, []string{"m-s3", "d-8", "d-7", "m-s1s2", "a-s1", "a-all"}},
		{"active within the millisecond of an expiry", doorlog.TokenFilter{Scope: all, ActiveAt: h(10).Add(-time.Microsecond)}, []string{"m-s3", "d-8", "d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{"active late", doorlog.TokenFilter{Scope: all, ActiveAt: h(200)}, []string{"m-s3", "d-8", "d-7", "a-s1", "a-all"}},
		{"after a position", doorlog.TokenFilter{Scope: all, After: &doorlog.TokenCursor{CreatedAt: h(5), ID: "d-8"}}, []string{"d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{"after a position that is no token", doorlog.TokenFilter{Scope: all, After: &doorlog.TokenCursor{CreatedAt: h(5), ID: "d-7x"}}, []string{"d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{"after a position, limited", doorlog.TokenFilter{Scope: all, After: &doorlog.TokenCursor{CreatedAt: h(5), ID: "d-8"}, Limit: 2}, []string{"d-7", "m-s2"}},
		{"everything combined", doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1", "s2"}}, ActiveAt: h(10), Limit: 3}, []string{"d-8", "d-7", "m-s1s2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListTokens(ctx(t), tt.f)
			mustOK(t, "ListTokens", err)
			if !slices.Equal(tokenIDs(got), tt.want) {
				t.Fatalf("got %q, want %q", tokenIDs(got), tt.want)
			}
			for _, tok := range got {
				want, err := s.FindToken(ctx(t), tok.ID)
				mustOK(t, "FindToken("+tok.ID+")", err)
				if diff := sameToken(tok, want); diff != "" {
					t.Errorf("listed token %s: got %s (as FindToken reads it)", tok.ID, diff)
				}
			}
		})
	}

	t.Run("scopes agree with Scope.Confines", func(t *testing.T) {
		every, err := s.ListTokens(ctx(t), doorlog.TokenFilter{Scope: all})
		mustOK(t, "ListTokens", err)
		for _, sites := range [][]string{{"s1"}, {"s2"}, {"s3"}, {"s1", "s2"}, {"s1", "s2", "s3"}, {"s2", "s3"}} {
			scope := doorlog.Scope{SiteIDs: sites}
			got, err := s.ListTokens(ctx(t), doorlog.TokenFilter{Scope: scope})
			mustOK(t, "ListTokens", err)
			var want []string
			for _, tok := range every {
				if scope.Confines(tok, deviceSite[tok.DeviceID]) {
					want = append(want, tok.ID)
				}
			}
			if !slices.Equal(tokenIDs(got), want) {
				t.Errorf("scope %q: got %q, want %q", sites, tokenIDs(got), want)
			}
		}
	})

	t.Run("paging walks every token once", func(t *testing.T) {
		var walked []string
		f := doorlog.TokenFilter{Scope: all, Limit: 2}
		for range 10 {
			page, err := s.ListTokens(ctx(t), f)
			mustOK(t, "ListTokens", err)
			walked = append(walked, tokenIDs(page)...)
			if len(page) < f.Limit {
				break
			}
			last := page[len(page)-1]
			f.After = &doorlog.TokenCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if want := []string{"m-s3", "d-8", "d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}; !slices.Equal(walked, want) {
			t.Errorf("got %q, want %q", walked, want)
		}
	})

	t.Run("negative limit", func(t *testing.T) {
		_, err := s.ListTokens(ctx(t), doorlog.TokenFilter{Scope: all, Limit: -1})
		wantCode(t, "ListTokens(Limit -1)", err, doorlog.EINVALID)
	})
}

func testDeleteToken(t *testing.T, open Opener) {
	s, _ := tokenWorld(t, open)
	mustOK(t, "DeleteToken(m-s1s2)", s.DeleteToken(ctx(t), "m-s1s2"))
	got, err := s.FindToken(ctx(t), "m-s1s2")
	wantCode(t, "FindToken after DeleteToken", err, doorlog.ENOTFOUND)
	if got != nil {
		t.Errorf("FindToken after DeleteToken: got %+v, want nil", got)
	}
	wantCode(t, "DeleteToken twice", s.DeleteToken(ctx(t), "m-s1s2"), doorlog.ENOTFOUND)
	for _, id := range []string{"none", "", "M-S2"} {
		wantCode(t, "DeleteToken("+id+")", s.DeleteToken(ctx(t), id), doorlog.ENOTFOUND)
	}
	left, err := s.ListTokens(ctx(t), doorlog.TokenFilter{Scope: all})
	mustOK(t, "ListTokens", err)
	if want := []string{"m-s3", "d-8", "d-7", "m-s2", "a-s1", "a-all"}; !slices.Equal(tokenIDs(left), want) {
		t.Errorf("after deleting m-s1s2: got %q, want %q", tokenIDs(left), want)
	}
	for _, id := range []string{"d-7", "a-all", "m-s2"} {
		mustOK(t, "DeleteToken("+id+")", s.DeleteToken(ctx(t), id))
	}
	left, err = s.ListTokens(ctx(t), doorlog.TokenFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1", "s2"}}})
	mustOK(t, "ListTokens", err)
	if want := []string{"d-8", "a-s1"}; !slices.Equal(tokenIDs(left), want) {
		t.Errorf("after deleting d-7, a-all and m-s2: got %q in s1 and s2, want %q", tokenIDs(left), want)
	}
	// The id of a deleted token may be used again, sites and all.
	again := doorlog.Token{ID: "m-s1s2", SecretHash: []byte("new"), Role: doorlog.RoleManager, SiteIDs: []string{"s3"}}
	mustOK(t, "CreateToken with a deleted token's id", s.CreateToken(ctx(t), &again))
	got, err = s.FindToken(ctx(t), "m-s1s2")
	mustOK(t, "FindToken", err)
	if !slices.Equal(got.SiteIDs, []string{"s3"}) || string(got.SecretHash) != "new" {
		t.Errorf("got %+v, want the new token of site s3 only", got)
	}
}

func testDeleteExpiredTokens(t *testing.T, open Opener) {
	s, _ := tokenWorld(t, open)
	h := func(n int) time.Time { return T0.Add(time.Duration(n) * time.Hour) }
	steps := []struct {
		at   time.Time
		n    int64
		left []string
	}{
		{h(10).Add(-time.Millisecond), 0, []string{"m-s3", "d-8", "d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{h(10).Add(-time.Microsecond), 0, []string{"m-s3", "d-8", "d-7", "m-s2", "m-s1s2", "a-s1", "a-all"}},
		{h(10), 1, []string{"m-s3", "d-8", "d-7", "m-s1s2", "a-s1", "a-all"}},
		{h(10), 0, []string{"m-s3", "d-8", "d-7", "m-s1s2", "a-s1", "a-all"}},
		{h(1000), 1, []string{"m-s3", "d-8", "d-7", "a-s1", "a-all"}},
		// Tokens that never expire are never purged.
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0, []string{"m-s3", "d-8", "d-7", "a-s1", "a-all"}},
	}
	for i, st := range steps {
		n, err := s.DeleteExpiredTokens(ctx(t), st.at)
		mustOK(t, "DeleteExpiredTokens", err)
		if n != st.n {
			t.Errorf("step %d, DeleteExpiredTokens(%v): got %d deleted, want %d", i, st.at, n, st.n)
		}
		left, err := s.ListTokens(ctx(t), doorlog.TokenFilter{Scope: all})
		mustOK(t, "ListTokens", err)
		if !slices.Equal(tokenIDs(left), st.left) {
			t.Errorf("step %d, after DeleteExpiredTokens(%v): got %q, want %q", i, st.at, tokenIDs(left), st.left)
		}
	}
	_, err := s.FindToken(ctx(t), "m-s2")
	wantCode(t, "FindToken of a purged token", err, doorlog.ENOTFOUND)
}
