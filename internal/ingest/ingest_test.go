package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

func classify(key string) (doorlog.Category, doorlog.Priority) {
	return doorlog.CategoryInfo, doorlog.PriorityLow
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{`"2024-05-01T10:00:00.123456Z"`, time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC), false},
		{`"2024-05-01T12:00:00+02:00"`, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), false},
		{`1714557600123`, time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC), false},
		{`0`, time.Unix(0, 0).UTC(), false},
		{`1714557600.5`, time.Time{}, true},
		{`"2024-05-01 10:00:00"`, time.Time{}, true},
		{`"yesterday"`, time.Time{}, true},
		{`null`, time.Time{}, true},
		{``, time.Time{}, true},
		{`true`, time.Time{}, true},
		{`99999999999999999999`, time.Time{}, true},
		// Years 1970 to 9999 in UTC, once the offset is applied.
		{`"1970-01-01T00:00:00Z"`, time.Unix(0, 0).UTC(), false},
		{`"1970-01-01T02:00:00+02:00"`, time.Unix(0, 0).UTC(), false},
		{`"1970-01-01T01:59:59.999+02:00"`, time.Time{}, true},
		{`"1969-12-31T23:59:59.999Z"`, time.Time{}, true},
		{`"0001-01-01T00:00:00Z"`, time.Time{}, true},
		{`"0000-01-01T00:00:00+23:59"`, time.Time{}, true},
		{`"9999-12-31T23:59:59.999Z"`, time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), false},
		{`"9999-12-31T23:59:59.999999999Z"`, time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), false},
		{`"9999-12-31T23:59:59-00:01"`, time.Time{}, true},
		{`"9999-12-31T23:00:00-23:59"`, time.Time{}, true},
		{`253402300799999`, time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), false},
		{`253402300800000`, time.Time{}, true},
		{`-1`, time.Time{}, true},
		{`-62135596800000`, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ingest.ParseTime(json.RawMessage(tt.in))
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Fatalf("got %v, %v, want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && doorlog.ErrorCode(err) != doorlog.EINVALID {
				t.Fatalf("got error code %q, want invalid", doorlog.ErrorCode(err))
			}
		})
	}
}

// FuzzIngest feeds arbitrary bodies to the real ingest path over a real
// store: nothing may panic, and every item is either stored, a duplicate or
// rejected — the three always add up to the items read.
func FuzzIngest(f *testing.F) {
	seeds := []string{
		`{"device_id":"` + device + `","time":"2024-05-01T10:00:00Z","key":"incoming_call","source_id":"a"}`,
		`[{"device_id":"` + device + `","time":1714557600000,"key":"k","model":{"a":[1,{"b":null}]}},{"time":"x"}]`,
		"{\"device_id\":\"" + device + "\",\"time\":1,\"key\":\"k\"}\n{\"key\":5}\n\n{",
		`[`, `{}`, `[]`, `null`, "\x00\xff", `{"model":"{}"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	store := openStore(f)
	w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{})
	f.Cleanup(w.Close)
	svc := ingest.NewService(store, w, classify, ingest.DefaultLimits)
	admin := &doorlog.Token{Role: doorlog.RoleAdmin}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		res, err := svc.Ingest(context.Background(), admin, bytes.NewReader(body), int64(len(body)), ndjson)
		if err != nil {
			if code := doorlog.ErrorCode(err); code != doorlog.EINVALID && code != doorlog.ETOOLARGE {
				t.Fatalf("got error %v (code %s), want a caller error", err, code)
			}
			return
		}
		if res.Accepted < 0 || res.Duplicates < 0 || res.Accepted+res.Duplicates+len(res.Rejected) == 0 {
			t.Fatalf("got result %+v, want every item accounted for", res)
		}
	})
}
