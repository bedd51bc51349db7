package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// Expected is what the generated events of a side-by-side run hold,
// counted as the load made them. Both stores' answers are checked against
// it, so that a wrong query on either side fails the run instead of
// passing as fast, and the two loads are shown to be the same events.
type Expected struct {
	// Events is how many events were made.
	Events int64 `json:"events"`
	// Digest is an order-free hash of every event (device, time, key,
	// model, source id): equal digests mean both stores got the same set.
	// It is seeded afresh in each process, so only the digests of one run
	// compare.
	Digest string `json:"digest"`
	// From and To are the compared window, both ends inclusive.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Window is how many events fall in it, WindowAccess how many of those
	// are of category access.
	Window       int64 `json:"window"`
	WindowAccess int64 `json:"window_access"`
	// Device is the busy device, and DeviceEvents how many events it has.
	Device       string `json:"device"`
	DeviceEvents int64  `json:"device_events"`
}

// hourCategory is one cell of the hourly counts: an hour as its first 13
// characters of RFC 3339 ("2025-05-01T10"), and a category.
type hourCategory struct {
	hour, category string
}

// tally counts what a load's events hold. Each client of a streamed load
// counts into a fork of its own, merged at its end; all its methods do
// nothing on a nil tally, which is what a run without the side by side
// passes.
type tally struct {
	cat *catalog.Catalog
	// from and to bound the window as quoted times in sim.TimeLayout,
	// which sort as bytes: no time is parsed per event.
	from, to []byte
	busy     string

	events, window, access, device int64
	digest                         uint64
	hours                          map[hourCategory]int64
	h                              maphash.Hash

	mu sync.Mutex // guards merge
}

// digestSeed seeds every tally's hash in this process, so that the
// digests of the two loads of a run compare.
var digestSeed = maphash.MakeSeed()

// newTally counts events against the window [from, to] (inclusive) and the
// busy device.
func newTally(cat *catalog.Catalog, from, to time.Time, busy string) *tally {
	t := &tally{
		cat: cat, busy: busy,
		from:  []byte(`"` + from.UTC().Format(sim.TimeLayout) + `"`),
		to:    []byte(`"` + to.UTC().Format(sim.TimeLayout) + `"`),
		hours: map[hourCategory]int64{},
	}
	t.h.SetSeed(digestSeed)
	return t
}

// fork returns an empty tally of the same window, for one client.
func (t *tally) fork() *tally {
	if t == nil {
		return nil
	}
	o := &tally{cat: t.cat, from: t.from, to: t.to, busy: t.busy, hours: map[hourCategory]int64{}}
	o.h.SetSeed(digestSeed)
	return o
}

// merge adds o's counts to t; it is safe for concurrent use.
func (t *tally) merge(o *tally) {
	if t == nil || o == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events += o.events
	t.window += o.window
	t.access += o.access
	t.device += o.device
	t.digest += o.digest
	for k, v := range o.hours {
		t.hours[k] += v
	}
}

// add counts items.
func (t *tally) add(items []ingest.Item) {
	if t == nil {
		return
	}
	for i := range items {
		it := &items[i]
		t.events++
		t.digest += t.hash(it)
		if it.DeviceID == t.busy {
			t.device++
		}
		// The times are quoted, so the hour is bytes 1 to 14.
		if bytes.Compare(it.Time, t.from) < 0 || bytes.Compare(it.Time, t.to) > 0 || len(it.Time) < 14 {
			continue
		}
		t.window++
		c := t.cat.Entry(it.Key).Category
		if c == doorlog.CategoryAccess {
			t.access++
		}
		t.hours[hourCategory{string(it.Time[1:14]), string(c)}]++
	}
}

// hash is the hash of an event's fields; the digest is their sum, which
// does not depend on the order the events were sent in.
func (t *tally) hash(it *ingest.Item) uint64 {
	t.h.Reset()
	t.h.WriteString(it.DeviceID)
	t.h.WriteByte(0)
	t.h.Write(it.Time)
	t.h.WriteByte(0)
	t.h.WriteString(it.Key)
	t.h.WriteByte(0)
	t.h.Write(it.Model)
	t.h.WriteByte(0)
	t.h.WriteString(it.SourceID)
	return t.h.Sum64()
}

// expected returns the counts, with the window's ends.
func (t *tally) expected(from, to time.Time) Expected {
	var d [8]byte
	binary.BigEndian.PutUint64(d[:], t.digest)
	return Expected{
		Events: t.events, Digest: hex.EncodeToString(d[:]),
		From: from, To: to, Window: t.window, WindowAccess: t.access,
		Device: t.busy, DeviceEvents: t.device,
	}
}

// unquote returns a JSON string's contents without its quotes (the
// generator's times have no escapes).
func unquote(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		return string(raw[1 : len(raw)-1])
	}
	return string(raw)
}
