package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// TokenPurgeInterval is how often a running server deletes the tokens that
// expired more than auth.ExpiredTokenRetention ago; it also does so when
// it starts. Every login makes a token (auth.LoginTTL), so without the
// purge they would pile up in the store for ever.
const TokenPurgeInterval = time.Hour

// tokenPurger runs the purge of expired tokens until stopped.
type tokenPurger struct {
	store  doorlog.Store
	now    func() time.Time
	logger *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startTokenPurge purges once now, then every TokenPurgeInterval until
// stop is called.
func startTokenPurge(ctx context.Context, store doorlog.Store, now func() time.Time, logger *slog.Logger) *tokenPurger {
	p := &tokenPurger{store: store, now: now, logger: logger}
	p.purge(ctx)
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(TokenPurgeInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				p.purge(ctx)
			}
		}
	}()
	return p
}

// purge deletes the tokens expired more than auth.ExpiredTokenRetention
// ago. A failure (a store busy with another process's write) is only
// logged: the next round tries again, and an expired token is refused
// whether or not it is still stored.
func (p *tokenPurger) purge(ctx context.Context) {
	n, err := p.store.DeleteExpiredTokens(ctx, p.now().Add(-auth.ExpiredTokenRetention))
	if err != nil {
		if ctx.Err() == nil {
			p.logger.Warn("purge expired tokens", "err", err)
		}
		return
	}
	if n > 0 {
		p.logger.Info("purged expired tokens", "count", n, "expired_before", p.now().Add(-auth.ExpiredTokenRetention).UTC())
	}
}

// stop ends the purge and waits for a round under way.
func (p *tokenPurger) stop() {
	p.cancel()
	p.wg.Wait()
}
