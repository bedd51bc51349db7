package ingest

import (
	"context"
	"fmt"
	"sync"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// DefaultMaxUnknownKeys is the default of Limits.MaxUnknownKeys: 25 times
// the catalog's 41 keys, room for years of new firmware across vendors,
// while the keys a BAS-IP list offers (every stored key, in every
// response) stay under about 220 KB even at the longest keys.
const DefaultMaxUnknownKeys = 1000

// KeyLister lists the keys the store holds (doorlog.Store.EventKeys).
type KeyLister interface {
	EventKeys(ctx context.Context) ([]string, error)
}

// LimitKeys bounds the distinct keys outside the catalog the service
// stores to Limits.MaxUnknownKeys: catalog keys (those known reports) and
// keys stored already are always accepted, and an item with a new unknown
// key past the limit is rejected by index, while the other items of its
// request are stored. The stored keys are read from store once; the service
// then counts the keys its own requests store, and reserves a new key for
// the request that brings it until that request is stored or fails, so
// that concurrent requests cannot together pass the limit.
//
// Call it before the service is in use. Without it, the service stores any
// key, which is what tests of other behaviour want.
func (s *Service) LimitKeys(ctx context.Context, store KeyLister, known func(key string) bool) error {
	keys, err := store.EventKeys(ctx)
	if err != nil {
		return fmt.Errorf("load the stored event keys: %w", err)
	}
	l := &keyLimit{max: s.limits.MaxUnknownKeys, known: known, stored: map[string]struct{}{}, pending: map[string]int{}}
	for _, k := range keys {
		if !known(k) {
			l.stored[k] = struct{}{}
		}
	}
	s.keys = l
	return nil
}

// keyLimit counts the distinct keys outside the catalog: those stored, and
// those reserved by requests not yet stored.
type keyLimit struct {
	max   int
	known func(string) bool

	mu     sync.Mutex
	stored map[string]struct{}
	// pending counts, by key, the validated events not yet stored whose
	// key is in no stored event.
	pending map[string]int
}

// admit reserves key for one event about to be stored, or refuses it when
// it would be one unknown key too many. A nil limit admits every key.
func (l *keyLimit) admit(key string) error {
	if l == nil || l.known(key) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.stored[key]; ok {
		return nil
	}
	if n, ok := l.pending[key]; ok || len(l.stored)+len(l.pending) < l.max {
		l.pending[key] = n + 1
		return nil
	}
	return doorlog.Errorf(doorlog.EINVALID,
		"key %q is not in the catalog, and the server already stores %d distinct keys outside it, its limit; the administrator can raise it with --max-unknown-keys (DOORLOG_MAX_UNKNOWN_KEYS)",
		key, l.max)
}

// settle ends the reservations of events admitted earlier: their keys
// count as stored when the append succeeded, and are released when it
// failed, since a failed append stores nothing. A duplicate event may not
// have stored its key, but counting it errs on the side of the limit.
func (l *keyLimit) settle(events []doorlog.Event, stored bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range events {
		k := events[i].Key
		n, ok := l.pending[k]
		if !ok {
			continue // a catalog key, or one stored already
		}
		if stored {
			l.stored[k] = struct{}{}
			delete(l.pending, k)
			continue
		}
		if n <= 1 {
			delete(l.pending, k)
		} else {
			l.pending[k] = n - 1
		}
	}
}
