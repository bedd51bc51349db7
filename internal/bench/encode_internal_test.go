package bench

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

func TestAppendNDJSONIsEncodeNDJSON(t *testing.T) {
	_, devices := sim.Population(4, 10)
	f := newFeed(1, devices, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 24*time.Hour, 2000)
	generated := make([]ingest.Item, 2000)
	for i := range generated {
		generated[i] = f.next()
	}
	at := json.RawMessage(`"2025-03-01T00:00:00.000Z"`)
	tests := []struct {
		name  string
		items []ingest.Item
	}{
		{"generated", generated},
		{"no model, no source id", []ingest.Item{{DeviceID: "d1", Time: at, Key: "device_booted"}}},
		{"strings to escape", []ingest.Item{
			{DeviceID: `d"1`, Time: at, Key: "k\\1", SourceID: "s\n1"},
			{DeviceID: "d1", Time: at, Key: "ключ", Model: json.RawMessage(`{"a":1}`), SourceID: "<s&1>"},
		}},
		{"none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := sim.EncodeNDJSON(tt.items)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendNDJSON([]byte("kept\n"), tt.items)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "kept\n"+string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, "kept\n"+string(want))
			}
		})
	}
}
