package ingest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// benchDevices finds the simulated population's devices without a store.
type benchDevices map[string]*doorlog.Device

func (d benchDevices) FindDevice(_ context.Context, id string) (*doorlog.Device, error) {
	if dev, ok := d[id]; ok {
		return dev, nil
	}
	return nil, doorlog.Errorf(doorlog.ENOTFOUND, "no device %s", id)
}

// discard accepts every event without storing it.
type discard struct{}

func (discard) AppendEvents(_ context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	return make([]doorlog.AppendResult, len(events)), nil
}

// BenchmarkIngestDecode measures what ingest does to a 5,000-event NDJSON
// body before the store: splitting, decoding and validating every item.
func BenchmarkIngestDecode(b *testing.B) {
	_, devices := sim.Population(10, 8)
	known := benchDevices{}
	for _, d := range devices {
		known[d.ID] = &doorlog.Device{ID: d.ID, SiteID: d.SiteID, Name: d.Name, Model: d.Model}
	}
	g := sim.NewGenerator(1, devices)
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	items := make([]ingest.Item, 5000)
	for i := range items {
		t = t.Add(37 * time.Millisecond)
		items[i] = g.Next(t)
	}
	body, err := sim.EncodeNDJSON(items)
	if err != nil {
		b.Fatal(err)
	}
	svc := ingest.NewService(known, discard{}, classify, ingest.DefaultLimits)
	admin := &doorlog.Token{Role: doorlog.RoleAdmin}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		res, err := svc.Ingest(context.Background(), admin, bytes.NewReader(body), int64(len(body)), true)
		if err != nil || res.Accepted != len(items) {
			b.Fatalf("got %+v, %v, want every item accepted", res, err)
		}
	}
	b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "events/s")
}
