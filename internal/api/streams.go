package api

import (
	"context"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The live streams' own limits. A stream holds a connection and a
// goroutine for as long as its client wants, so the number open is bounded
// in all and per token: past them, a new stream is refused, and the
// server's connections stay free for everything else.
const (
	// DefaultMaxStreams is the most live streams open at once.
	DefaultMaxStreams = 512
	// DefaultMaxStreamsPerToken is the most live streams one token has
	// open at once: a browser opens one per tab, an integration a few.
	DefaultMaxStreamsPerToken = 32
	// streamsRetryAfter is what a refused stream is told to wait.
	streamsRetryAfter = 5 * time.Second
)

var (
	errTooManyStreams = doorlog.Errorf(doorlog.EUNAVAILABLE, "too many live streams are open on the server; retry later").Retry(streamsRetryAfter)
	errTokenStreams   = doorlog.Errorf(doorlog.ETOOMANY, "this token has too many live streams open; close one first").Retry(streamsRetryAfter)
)

// streams is the registry of the open live streams, by token: it bounds
// them, and ends a token's streams when the token is revoked through this
// API. A revocation from elsewhere (the CLI, a logout, the expiry) ends a
// stream at its next heartbeat, when the stream asks again whether its
// token is valid.
type streams struct {
	mu      sync.Mutex
	n       int
	byToken map[string]map[*streamEntry]struct{}
}

type streamEntry struct {
	cancel context.CancelFunc
}

// open registers a stream of token id, whose context cancel ends it, or
// refuses it past the limits. The caller must call close when it ends.
func (s *streams) open(id string, cancel context.CancelFunc, max, perToken int) (*streamEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= max {
		return nil, errTooManyStreams
	}
	if len(s.byToken[id]) >= perToken {
		return nil, errTokenStreams
	}
	if s.byToken == nil {
		s.byToken = map[string]map[*streamEntry]struct{}{}
	}
	if s.byToken[id] == nil {
		s.byToken[id] = map[*streamEntry]struct{}{}
	}
	e := &streamEntry{cancel: cancel}
	s.byToken[id][e] = struct{}{}
	s.n++
	return e, nil
}

func (s *streams) close(id string, e *streamEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byToken[id][e]; !ok {
		return
	}
	delete(s.byToken[id], e)
	if len(s.byToken[id]) == 0 {
		delete(s.byToken, id)
	}
	s.n--
}

// end ends every stream of token id, as its revocation does.
func (s *streams) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for e := range s.byToken[id] {
		e.cancel()
	}
}
