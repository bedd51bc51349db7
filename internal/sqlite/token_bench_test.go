package sqlite

import (
	"fmt"
	"testing"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// BenchmarkFindToken measures the lookup every authenticated request
// makes (tokens are not cached, so that a revoke takes effect at once),
// over 5,000 stored manager tokens of two sites each. "validity-check" is
// what keeping a cache would cost instead on every request: reading one
// value of store_state (a tokens generation number) with a prepared
// statement. docs/operations.md ("Tokens") quotes the figures.
func BenchmarkFindToken(b *testing.B) {
	db := openTemp(b)
	storetest.MustCreateSite(b, db, "s1")
	storetest.MustCreateSite(b, db, "s2")
	ctx := b.Context()
	const n = 5000
	for i := range n {
		if err := db.CreateToken(ctx, &doorlog.Token{ID: fmt.Sprintf("%020d", i), SecretHash: make([]byte, 32), Role: doorlog.RoleManager, SiteIDs: []string{"s1", "s2"}}); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%020d", i)
	}
	b.Run("serial", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := db.FindToken(ctx, ids[i%n]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := db.FindToken(ctx, ids[i%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("validity-check", func(b *testing.B) {
		stmt, err := db.r.PrepareContext(ctx, `SELECT value FROM store_state WHERE name = 'seq'`)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		for b.Loop() {
			var v int64
			if err := stmt.QueryRowContext(ctx).Scan(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
