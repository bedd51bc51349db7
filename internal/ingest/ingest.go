package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/doorlog/doorlog/internal/cleanjson"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// Limits bound what one ingest request may carry.
type Limits struct {
	// MaxBody is the largest request body in bytes (the HTTP layer enforces
	// it and answers 413).
	MaxBody int64
	// MaxItems is the most events in one request.
	MaxItems int
	// MaxModel is the largest model, in bytes of compact JSON.
	MaxModel int
	// MaxUnknownKeys is the most distinct keys outside the catalog the
	// server stores, once Service.LimitKeys enables the limit; 0 allows
	// catalog keys only.
	MaxUnknownKeys int
}

// DefaultLimits are generous for devices and batching clients while keeping
// one request's memory small.
var DefaultLimits = Limits{MaxBody: 16 << 20, MaxItems: 50000, MaxModel: doorlog.MaxModelBytes, MaxUnknownKeys: DefaultMaxUnknownKeys}

// DeviceFinder looks devices up by id.
type DeviceFinder interface {
	FindDevice(ctx context.Context, id string) (*doorlog.Device, error)
}

// Service validates and stores incoming events.
type Service struct {
	devices  DeviceFinder
	appender Appender
	classify func(key string) (doorlog.Category, doorlog.Priority)
	limits   Limits
	observer Observer

	// known caches devices found once; devices never move between sites
	// and are never deleted, so an entry never goes stale.
	known sync.Map // id → *doorlog.Device
	// keys bounds the keys outside the catalog; nil until LimitKeys.
	keys *keyLimit
}

// NewService returns a Service that finds devices with devices, classifies
// keys with classify (the catalog) and stores through appender (a Writer).
func NewService(devices DeviceFinder, appender Appender, classify func(string) (doorlog.Category, doorlog.Priority), limits Limits) *Service {
	return &Service{devices: devices, appender: appender, classify: classify, limits: limits}
}

// Observer is told the outcome of every ingest request, for metrics.
type Observer interface {
	ObserveIngest(accepted, duplicates, rejected int)
}

// SetObserver makes the service report every request's outcome to o. Call
// it before the service is in use.
func (s *Service) SetObserver(o Observer) { s.observer = o }

// Limits returns the limits the service enforces.
func (s *Service) Limits() Limits { return s.limits }

// Item is one event as a sender writes it.
type Item struct {
	DeviceID string          `json:"device_id"`
	Time     json.RawMessage `json:"time"`
	Key      string          `json:"key"`
	Model    json.RawMessage `json:"model,omitempty"`
	SourceID string          `json:"source_id,omitempty"`
}

// Result is the answer to an ingest request.
type Result struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Rejection says why the item at Index (0-based, in request order) was not
// stored.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Ingest stores the events of one request body, read from body as a
// stream: a JSON object, a JSON array, or NDJSON (ndjson true, or a body of
// several concatenated objects). size is the body's length when known (-1
// otherwise); it only sizes buffers. Valid items are stored durably before
// it returns; invalid ones are listed in Rejected by index. An error means
// nothing was stored; a failure to read the body is a *ReadError.
func (s *Service) Ingest(ctx context.Context, tok *doorlog.Token, body io.Reader, size int64, ndjson bool) (Result, error) {
	if tok == nil || (tok.Role != doorlog.RoleAdmin && tok.Role != doorlog.RoleDevice) {
		return Result{}, doorlog.Errorf(doorlog.EFORBIDDEN, "only admin and device tokens may ingest events")
	}
	// The announced size only sizes the first buffer, and not beyond
	// firstArena: a client may announce more than it sends.
	hint := 0
	if size > 0 {
		hint = int(min(size, s.limits.MaxBody, firstArena))
	}
	d := newDecoder(hint)
	var (
		items      []Item
		compact    []bool
		decodeErrs []error
	)
	reject := func(i int, err error) {
		if decodeErrs == nil {
			decodeErrs = make([]error, i+1, max(i+1, cap(items)))
		}
		for len(decodeErrs) <= i {
			decodeErrs = append(decodeErrs, nil)
		}
		decodeErrs[i] = err
	}
	maxItem := s.limits.maxItemBytes()
	err := readItems(body, ndjson, maxItem, func(raw []byte, tooLarge bool) error {
		if len(items) == s.limits.MaxItems {
			return errTooManyItems
		}
		i := len(items)
		items = append(items, Item{})
		compact = append(compact, false)
		if tooLarge {
			reject(i, doorlog.Errorf(doorlog.EINVALID, "item is larger than %d bytes", maxItem))
			return nil
		}
		var ok bool
		if compact[i], ok = d.decode(raw, &items[i]); ok {
			return nil
		}
		items[i] = Item{}
		if err := json.Unmarshal(raw, &items[i]); err != nil {
			reject(i, doorlog.Errorf(doorlog.EINVALID, "not a valid event object: %s", jsonErrorText(err)))
		}
		return nil
	})
	if errors.Is(err, errTooManyItems) {
		return Result{}, doorlog.Errorf(doorlog.ETOOLARGE, "at most %d events per request", s.limits.MaxItems)
	}
	if err != nil {
		return Result{}, err
	}
	if len(items) == 0 {
		return Result{}, doorlog.Errorf(doorlog.EINVALID, "no events in the request body")
	}
	if decodeErrs != nil {
		for len(decodeErrs) < len(items) {
			decodeErrs = append(decodeErrs, nil)
		}
	}
	return s.ingest(ctx, tok, items, compact, decodeErrs)
}

// IngestItems stores already decoded items, as Ingest does; the in-process
// demo feeds events this way.
func (s *Service) IngestItems(ctx context.Context, tok *doorlog.Token, items []Item) (Result, error) {
	if tok == nil || (tok.Role != doorlog.RoleAdmin && tok.Role != doorlog.RoleDevice) {
		return Result{}, doorlog.Errorf(doorlog.EFORBIDDEN, "only admin and device tokens may ingest events")
	}
	return s.ingest(ctx, tok, items, nil, nil)
}

// ingest stores items; compact, when not nil, says which items' models the
// decoder found compact already, and decodeErrs, when not nil, which items
// did not decode.
func (s *Service) ingest(ctx context.Context, tok *doorlog.Token, items []Item, compact []bool, decodeErrs []error) (Result, error) {
	res, err := s.store(ctx, tok, items, compact, decodeErrs)
	if err == nil && s.observer != nil {
		s.observer.ObserveIngest(res.Accepted, res.Duplicates, len(res.Rejected))
	}
	return res, err
}

func (s *Service) store(ctx context.Context, tok *doorlog.Token, items []Item, compact []bool, decodeErrs []error) (Result, error) {
	res := Result{Rejected: []Rejection{}}
	events := make([]doorlog.Event, 0, len(items))
	for i := range items {
		var (
			ev  doorlog.Event
			err error
		)
		if decodeErrs != nil && decodeErrs[i] != nil {
			err = decodeErrs[i]
		} else {
			ev, err = s.validate(ctx, tok, &items[i], compact != nil && compact[i])
		}
		if err != nil {
			if doorlog.ErrorCode(err) == doorlog.EINTERNAL {
				s.keys.settle(events, false)
				return Result{}, err
			}
			res.Rejected = append(res.Rejected, Rejection{Index: i, Error: doorlog.ErrorMessage(err)})
			continue
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return res, nil
	}
	results, err := s.appender.AppendEvents(ctx, events)
	s.keys.settle(events, err == nil)
	if err != nil {
		return Result{}, err
	}
	for _, r := range results {
		if r.Duplicate {
			res.Duplicates++
		} else {
			res.Accepted++
		}
	}
	return res, nil
}

// jsonErrorText keeps the position and reason of a JSON error, which help
// the sender, and drops Go type names, which do not.
func jsonErrorText(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("%s at byte %d", e.Error(), e.Offset)
	case *json.UnmarshalTypeError:
		if e.Field != "" {
			return fmt.Sprintf("field %q has the wrong type", e.Field)
		}
		return "wrong type"
	default:
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "unexpected end of JSON input"
		}
		return "malformed JSON"
	}
}

// validKey reports whether key is 1 to 100 bytes of letters, digits, '_',
// '.', ':' and '-', starting with a letter or digit: the regular expression
// ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$ checked by hand, since it runs for
// every event.
func validKey(key string) bool {
	if len(key) == 0 || len(key) > 100 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

const maxSourceID = 200

// validSourceID reports whether id is at most maxSourceID bytes of valid
// UTF-8 without U+FFFD. json.Unmarshal reads invalid UTF-8 and lone
// surrogate escapes (\ud800) as U+FFFD, so an id holding one is not the id
// the device sent; stored, two different ids could become one, and the
// second event would be taken for a duplicate of the first and lost. The
// device gets a rejection it can act on instead.
func validSourceID(id string) bool {
	// strings.Contains finds U+FFFD's three bytes with a byte search;
	// strings.ContainsRune would decode every rune to find RuneError.
	return len(id) <= maxSourceID && utf8.ValidString(id) && !strings.Contains(id, "\uFFFD")
}

// validate checks an item and makes it an event. compact says the model is
// known to be compact JSON already (see decoder).
func (s *Service) validate(ctx context.Context, tok *doorlog.Token, it *Item, compact bool) (doorlog.Event, error) {
	dev, err := s.device(ctx, tok, it.DeviceID)
	if err != nil {
		return doorlog.Event{}, err
	}
	t, err := ParseTime(it.Time)
	if err != nil {
		return doorlog.Event{}, err
	}
	if !validKey(it.Key) {
		return doorlog.Event{}, doorlog.Errorf(doorlog.EINVALID, "key must be 1 to 100 letters, digits, '_', '.', ':' or '-'")
	}
	model, err := s.model(it.Model, compact)
	if err != nil {
		return doorlog.Event{}, err
	}
	if !validSourceID(it.SourceID) {
		return doorlog.Event{}, doorlog.Errorf(doorlog.EINVALID, "source_id must be valid UTF-8 of at most %d bytes, without U+FFFD or lone surrogate escapes (ids are kept exact, never repaired)", maxSourceID)
	}
	cat, prio := s.classify(it.Key)
	// Last, so that an item this admits is one that will be appended.
	if err := s.keys.admit(it.Key); err != nil {
		return doorlog.Event{}, err
	}
	return doorlog.Event{
		DeviceID: dev.ID,
		SiteID:   dev.SiteID,
		Time:     t,
		Key:      it.Key,
		Category: cat,
		Priority: prio,
		Model:    model,
		SourceID: it.SourceID,
	}, nil
}

// device resolves an item's device and checks the token may write for it.
// A device outside an admin's scope reads as unknown, so its existence is
// not disclosed.
func (s *Service) device(ctx context.Context, tok *doorlog.Token, id string) (*doorlog.Device, error) {
	if tok.Role == doorlog.RoleDevice {
		if id == "" {
			id = tok.DeviceID
		}
		if canon, err := doorlog.CanonicalDeviceID(id); err != nil || canon != tok.DeviceID {
			return nil, doorlog.Errorf(doorlog.EINVALID, "device_id: a device token may only send events of its own device")
		}
	}
	if id == "" {
		return nil, doorlog.Errorf(doorlog.EINVALID, "device_id is required")
	}
	// The cache is keyed by canonical id, so an id found in it as sent is
	// canonical already and need not be parsed.
	canon := id
	v, ok := s.known.Load(id)
	if !ok {
		var err error
		if canon, err = doorlog.CanonicalDeviceID(id); err != nil {
			return nil, doorlog.Errorf(doorlog.EINVALID, "device_id must be a UUID")
		}
		v, ok = s.known.Load(canon)
	}
	var dev *doorlog.Device
	if ok {
		dev = v.(*doorlog.Device)
	} else {
		var err error
		dev, err = s.devices.FindDevice(ctx, canon)
		if err != nil {
			if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
				return nil, doorlog.Errorf(doorlog.EINVALID, "device_id: unknown device %s", canon)
			}
			return nil, err
		}
		s.known.Store(canon, dev)
	}
	if tok.Role == doorlog.RoleAdmin && !tok.Scope().Allows(dev.SiteID) {
		return nil, doorlog.Errorf(doorlog.EINVALID, "device_id: unknown device %s", canon)
	}
	return dev, nil
}

// model checks a model and returns it as it is stored: compact JSON, valid
// UTF-8 with no lone surrogate escape (see cleanjson.Repair: bad bytes and
// lone escapes are replaced, never a reason to lose the event), nested at
// most cleanjson.MaxDepth deep, at most MaxModel bytes once repaired.
// compact says the decoder found it compact and clean and within the depth
// already (see decoder), so that only its size is left to check; its
// answer for such a model is the same as for the same bytes with compact
// false, which FuzzDecode checks.
func (s *Service) model(raw json.RawMessage, compact bool) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model must be a JSON object")
	}
	if len(raw) > 4*s.limits.MaxModel || compact && len(raw) > s.limits.MaxModel {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model is larger than %d bytes", s.limits.MaxModel)
	}
	if compact {
		return raw, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model is not valid JSON")
	}
	// Repairing never shrinks a model, so one too large already is
	// refused before it is copied again.
	if buf.Len() > s.limits.MaxModel {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model is larger than %d bytes", s.limits.MaxModel)
	}
	if cleanjson.Deeper(buf.Bytes(), cleanjson.MaxDepth) {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model is nested more than %d levels deep (objects and arrays count, the model itself is level 1)", cleanjson.MaxDepth)
	}
	if at := cleanjson.Overflow(buf.Bytes()); at >= 0 {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model holds a number beyond the largest 64-bit floating-point number (at byte %d), which strict JSON readers refuse", at)
	}
	model := cleanjson.Repair(buf.Bytes())
	if len(model) > s.limits.MaxModel {
		return nil, doorlog.Errorf(doorlog.EINVALID, "model is larger than %d bytes", s.limits.MaxModel)
	}
	return json.RawMessage(model), nil
}

// ParseTime reads an event time: an RFC 3339 string or an integer number of
// milliseconds since the Unix epoch. The result is UTC at millisecond
// precision, within doorlog.MinEventMillis and doorlog.MaxEventMillis: an
// RFC 3339 time whose offset moves it out of that range
// (9999-12-31T23:00:00-02:00 is in year 10000) is refused like any other
// time outside it.
func ParseTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	bad := doorlog.Errorf(doorlog.EINVALID, "time must be an RFC 3339 string or integer milliseconds since the Unix epoch")
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, doorlog.Errorf(doorlog.EINVALID, "time is required")
	}
	if raw[0] == '"' {
		var s string
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
			// Without escapes the string is its bytes; time.Parse refuses
			// whatever json.Unmarshal would have refused or changed
			// (control characters, invalid UTF-8).
			s = string(raw[1 : len(raw)-1])
		} else if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, bad
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, bad
		}
		t = doorlog.TruncateMillis(t)
		if !doorlog.ValidEventTime(t) {
			return time.Time{}, errTimeRange()
		}
		return t, nil
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return time.Time{}, errTimeRange()
	case err != nil:
		return time.Time{}, bad
	case ms < doorlog.MinEventMillis || ms > doorlog.MaxEventMillis:
		return time.Time{}, errTimeRange()
	}
	return time.UnixMilli(ms).UTC(), nil
}

// errTimeRange is the rejection of a time outside the range events may
// have.
func errTimeRange() error {
	return doorlog.Errorf(doorlog.EINVALID, "time must be from %s (in UTC, after its offset)", doorlog.EventTimeRange)
}
