package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// TestIngestCleanData sends items that break the clean-data rules through
// the real ingest path into a real store. Each item goes twice, spelt so
// that the fast decoder reads it and spelt so that it cannot (the key
// written with an escape): both paths must store the same model, or give
// the same rejection. Every stored model must pass a strict JSON parser.
func TestIngestCleanData(t *testing.T) {
	nest := func(n int) string { return strings.Repeat(`[`, n) + strings.Repeat(`]`, n) }
	tests := []struct {
		name    string
		time    string
		model   string // written into the item as it is
		source  string // the source_id as written, quotes included; empty for none
		want    string // the stored model
		wantErr string // or a part of the rejection
	}{
		{name: "invalid UTF-8 in a value is replaced", model: "{\"note\":\"caf\xe9 \xff\"}", want: "{\"note\":\"caf\uFFFD \uFFFD\"}"},
		{name: "invalid UTF-8 in a name is replaced", model: "{\"n\xc0\":1}", want: "{\"n\uFFFD\":1}"},
		{name: "UTF-8 encoded surrogate is replaced", model: "{\"a\":\"\xed\xa0\x80\"}", want: "{\"a\":\"\uFFFD\uFFFD\uFFFD\"}"},
		{name: "lone high surrogate escape is replaced", model: `{"a":"x\ud800y"}`, want: `{"a":"x\ufffdy"}`},
		{name: "lone low surrogate escape is replaced", model: `{"a":"\udfff"}`, want: `{"a":"\ufffd"}`},
		{name: "surrogate pair is kept", model: `{"a":"\ud83d\udd11"}`, want: `{"a":"\ud83d\udd11"}`},
		{name: "escaped backslash is no escape", model: `{"a":"\\ud800"}`, want: `{"a":"\\ud800"}`},
		{name: "32 levels are kept", model: `{"a":` + nest(31) + `}`, want: `{"a":` + nest(31) + `}`},
		{name: "33 levels are refused", model: `{"a":` + nest(32) + `}`, wantErr: "model is nested more than 32 levels deep"},
		{name: "8000 levels are refused", model: `{"a":` + nest(7999) + `}`, wantErr: "model is nested more than 32 levels deep"},
		{name: "objects count as levels", model: strings.Repeat(`{"a":`, 32) + `{}` + strings.Repeat(`}`, 32), wantErr: "nested more than 32"},
		{name: "invalid UTF-8 in source_id is refused", model: `{}`, source: "\"a\xffb\"", wantErr: "source_id must be valid UTF-8"},
		{name: "lone surrogate in source_id is refused", model: `{}`, source: `"a\ud800"`, wantErr: "source_id must be valid UTF-8"},
		{name: "U+FFFD in source_id is refused", model: `{}`, source: "\"a\uFFFD\"", wantErr: "source_id must be valid UTF-8"},
		{name: "surrogate pair in source_id is kept", model: `{}`, source: `"k\ud83d\udd11"`, want: `{}`},
		{name: "offset past year 9999", time: `"9999-12-31T23:00:00-02:00"`, model: `{}`, wantErr: "time must be from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"},
		{name: "offset before year 0", time: `"0000-01-01T00:30:00+01:00"`, model: `{}`, wantErr: "time must be from 1970"},
		{name: "before 1970", time: `"1969-12-31T23:59:59.999Z"`, model: `{}`, wantErr: "time must be from 1970"},
		{name: "negative milliseconds", time: `-1`, model: `{}`, wantErr: "time must be from 1970"},
		{name: "milliseconds past year 9999", time: `253402300800000`, model: `{}`, wantErr: "time must be from 1970"},
		{name: "a number past the largest float is refused", model: `{"a":1e999999}`, wantErr: "model holds a number beyond the largest 64-bit floating-point number"},
		{name: "a negative one too", model: `{"a":[1,-2.5E400]}`, wantErr: "beyond the largest 64-bit"},
		{name: "the largest float is kept", model: `{"a":1.7976931348623157e308}`, want: `{"a":1.7976931348623157e308}`},
		{name: "a tiny float is kept", model: `{"a":1e-999999}`, want: `{"a":1e-999999}`},
		{name: "a long integer is kept", model: `{"a":123456789012345678901234567890}`, want: `{"a":123456789012345678901234567890}`},
		{name: "such a number in a string is text", model: `{"a":"1e999999"}`, want: `{"a":"1e999999"}`},
		{name: "first millisecond", time: `"1970-01-01T01:00:00+01:00"`, model: `{}`, want: `{}`},
		{name: "last millisecond", time: `"9999-12-31T23:59:59.999999Z"`, model: `{}`, want: `{}`},
	}
	store := openStore(t)
	w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{})
	t.Cleanup(w.Close)
	svc := ingest.NewService(store, w, classify, ingest.DefaultLimits)
	admin := &doorlog.Token{Role: doorlog.RoleAdmin}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := tt.time
			if tm == "" {
				tm = "1714557600000"
			}
			var got []string
			for path, key := range map[string]string{"fast": `"key":"k"`, "slow": `"key":"\u006b"`} {
				source := tt.source
				if source == "" {
					source = `"` + path + `-` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `"`
				} else {
					// The same source_id twice would be a duplicate.
					source = source[:1] + path + source[1:]
				}
				body := `{"device_id":"` + device + `","time":` + tm + `,` + key + `,"source_id":` + source + `,"model":` + tt.model + `}`
				res, err := svc.Ingest(ctx, admin, strings.NewReader(body), int64(len(body)), true)
				if err != nil {
					t.Fatalf("%s path: got error %v, want a result", path, err)
				}
				if tt.wantErr != "" {
					if len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error, tt.wantErr) {
						t.Fatalf("%s path: got %+v, want the item rejected with %q", path, res, tt.wantErr)
					}
					continue
				}
				if res.Accepted != 1 {
					t.Fatalf("%s path: got %+v, want the item accepted", path, res)
				}
				got = append(got, storedModel(t, store, sourceID(t, source)))
			}
			for _, m := range got {
				if m != tt.want {
					t.Errorf("stored model %q, want %q", m, tt.want)
				}
				if !jsontext.Value(m).IsValid(jsontext.AllowDuplicateNames(true)) {
					t.Errorf("stored model %q does not pass a strict JSON parser", m)
				}
			}
		})
	}
}

// sourceID reads a JSON string as the store keeps it.
func sourceID(t testing.TB, quoted string) string {
	t.Helper()
	tok, err := jsontext.NewDecoder(strings.NewReader(quoted)).ReadToken()
	if err != nil {
		t.Fatalf("source_id %s: %v", quoted, err)
	}
	return tok.String()
}

// storedModel returns the model of the device's event with source id src.
func storedModel(t testing.TB, store interface {
	ListEvents(context.Context, doorlog.EventQuery) ([]doorlog.Event, error)
}, src string) string {
	t.Helper()
	events, err := store.ListEvents(context.Background(), doorlog.EventQuery{
		Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}, DeviceIDs: []string{device}},
		Order:  doorlog.Asc, Limit: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.SourceID == src {
			return string(e.Model)
		}
	}
	t.Fatalf("no stored event with source_id %q", src)
	return ""
}
