package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// TestPurgeExpiredTokensOnStart checks that a server starting on a data
// directory deletes the tokens expired for longer than
// auth.ExpiredTokenRetention, and keeps the others: those expired more
// recently (still listed with expired=true), the valid ones and those that
// never expire.
func TestPurgeExpiredTokensOnStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	store, err := app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for id, expires := range map[string]time.Time{
		"long-expired":         now.Add(-auth.ExpiredTokenRetention - time.Millisecond),
		"expired-exactly-then": now.Add(-auth.ExpiredTokenRetention),
		"recently-expired":     now.Add(-time.Hour),
		"valid":                now.Add(time.Hour),
		"never-expires":        {},
	} {
		tok := doorlog.Token{ID: id, SecretHash: []byte("h"), Role: doorlog.RoleAdmin, ExpiresAt: expires}
		if err := store.CreateToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	a, err := app.Open(ctx, app.Config{Data: dir, Name: "test", Version: "test", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	left, err := a.Store.ListTokens(ctx, doorlog.TokenFilter{Scope: doorlog.Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tok := range left {
		ids = append(ids, tok.ID)
	}
	slices.Sort(ids)
	if want := []string{"never-expires", "recently-expired", "valid"}; !slices.Equal(ids, want) {
		t.Fatalf("got tokens %q after the start, want %q", ids, want)
	}
}
