package rollup

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// The realistic scale of docs/performance.md: 10 million events over 90 days
// from 500 devices in 20 sites, with about 40 kinds of skewed frequency.
const (
	scaleEvents    = 10_000_000
	scaleSites     = 20
	devicesPerSite = 25
	scaleKinds     = 40
	scaleDays      = 90
	scaleBatch     = 5000
)

// scaleEndMS is the end of the 90 days, a fixed time so that runs compare.
var scaleEndMS = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// The kinds of the scale events, with the shares (per mille of a device's
// events) of the simulator's mixes in internal/sim, door sensor and call-host
// follow-ups included, and rare kinds to make about 40.
const (
	kGranted = iota
	kGrantedFace
	kExitButton
	kOutgoingCall
	kCallMissed
	kIncomingCall
	kGrantedAPI
	kDeniedCard
	kDeniedIdentifier
	kDeniedCode
	kDeniedFace
	kCamLight
	kSIPLost
	kBooted
	kTamper
	kGrantedCallHost
	kDoorOpened
	kDoorClosed
	kHeldOpen
	kLiftCall
	kLiftCallError
	kLiftModuleError
	kRare // kRare through scaleKinds-3: rare alarms and faults
)

// kServerLogin is the first of the server's own kinds (logins).
const kServerLogin = scaleKinds - 2

var (
	panelMix = map[uint32]float64{
		kGranted: 430, kGrantedFace: 140, kExitButton: 70, kOutgoingCall: 60, kCallMissed: 25,
		kIncomingCall: 20, kGrantedAPI: 10, kDeniedCard: 35, kDeniedIdentifier: 15, kDeniedCode: 15,
		kDeniedFace: 5, kCamLight: 35, kSIPLost: 1.5, kBooted: 1, kTamper: 0.8,
		kGrantedCallHost: 27, kDoorOpened: 237, kDoorClosed: 237, kHeldOpen: 3.6,
	}
	liftMix = map[uint32]float64{
		kLiftCall: 850, kDeniedCard: 40, kDeniedIdentifier: 20, kLiftCallError: 15,
		kLiftModuleError: 3, kBooted: 1.5, kTamper: 0.8,
	}
	// placementActivity is how busy each of the simulator's eight
	// placements is; devices of a site cycle through them, and the third
	// is a lift controller.
	placementActivity = []float64{3.0, 1.5, 1.2, 0.6, 0.8, 0.5, 0.7, 0.4}
	// accessKinds are the kinds of one category, grants and denials at
	// doors: a few kinds, but most events.
	accessKinds = []uint32{kGranted, kGrantedFace, kGrantedAPI, kGrantedCallHost, kDeniedCard, kDeniedIdentifier, kDeniedCode, kDeniedFace}
)

func init() {
	for k := uint32(kRare); k < kServerLogin; k++ {
		panelMix[k] = 0.2
	}
}

// picks returns a table to draw from at random with the given weights, to
// a resolution of 1/20 of a unit.
func picks(weights map[uint32]float64) []uint32 {
	var out []uint32
	for k := range uint32(scaleKinds) {
		for range int(weights[k] * 20) {
			out = append(out, k)
		}
	}
	return out
}

// scaleGen makes events shaped like the simulator's: each site's main
// entrance busiest, lift controllers with their own mix, grants far more
// frequent than alarms, and a few server events.
type scaleGen struct {
	r               *rand.Rand
	devices         []uint32 // weighted picks of device codes, 1 to 500
	panel, liftKind []uint32 // weighted picks of kinds
}

func newScaleGen(seed uint64) *scaleGen {
	g := &scaleGen{r: rand.New(rand.NewPCG(seed, 3)), panel: picks(panelMix), liftKind: picks(liftMix)}
	for d := range uint32(scaleSites * devicesPerSite) {
		for range int(placementActivity[d%devicesPerSite%8] * 10) {
			g.devices = append(g.devices, d+1)
		}
	}
	return g
}

// event returns an event at timeMS.
func (g *scaleGen) event(timeMS int64) Delta {
	if g.r.IntN(1000) == 0 {
		return Delta{TimeMS: timeMS, Kind: kServerLogin + uint32(g.r.IntN(2)), N: 1}
	}
	dev := g.devices[g.r.IntN(len(g.devices))]
	mix := g.panel
	if (dev-1)%devicesPerSite%8 == 2 {
		mix = g.liftKind
	}
	return Delta{TimeMS: timeMS, Site: (dev-1)/devicesPerSite + 1, Device: dev, Kind: mix[g.r.IntN(len(mix))], N: 1}
}

var (
	scaleOnce   sync.Once
	scaleCounts *Counts
	scaleSnap   []byte
	scaleBuild  time.Duration
)

// atScale returns counts of 10 million events, applied in batches of 5000
// in time order the way the writer does, built once per test binary.
func atScale(tb testing.TB) *Counts {
	tb.Helper()
	scaleOnce.Do(func() {
		start := time.Now()
		c, g := New(), newScaleGen(1)
		span := int64(scaleDays * dayMS)
		first := scaleEndMS - span
		batch := make([]Delta, 0, scaleBatch)
		for i := range int64(scaleEvents) {
			batch = append(batch, g.event(first+i*span/scaleEvents))
			if len(batch) == scaleBatch {
				if err := c.Apply(i+1, batch); err != nil {
					panic(err)
				}
				batch = batch[:0]
			}
		}
		if err := c.Apply(scaleEvents, batch); err != nil {
			panic(err)
		}
		scaleBuild = time.Since(start)
		var err error
		if scaleSnap, err = c.MarshalBinary(); err != nil {
			panic(err)
		}
		scaleCounts = c
	})
	return scaleCounts
}

// TestSizeAtScale checks that counts of 10 million events stay within their
// memory budget, and logs what they take.
func TestSizeAtScale(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds counts of 10 million events")
	}
	c := atScale(t)
	entries, bytes := c.Size()
	t.Logf("10M events: %d entries, %.1f MB; snapshot %.1f MB; built in %v", entries, float64(bytes)/1e6, float64(len(scaleSnap))/1e6, scaleBuild)
	c.mu.RLock()
	t.Logf("hour entries %d, day entries %d, device-day entries %d, site totals %d, device totals %d",
		must(seriesSize(c.hours)), must(seriesSize(c.days)), must(seriesSize(c.devDays)), len(c.sites.keys), len(c.devs.keys))
	c.mu.RUnlock()
	if bytes > 25<<20 {
		t.Errorf("Size at 10M events: got %d bytes, want at most %d", bytes, 25<<20)
	}
	if n, _ := c.Total(Selection{}); n != scaleEvents {
		t.Errorf("Total at 10M events: got %d, want %d", n, scaleEvents)
	}
}

func BenchmarkSize(b *testing.B) {
	c := atScale(b)
	var entries int
	var bytes int64
	for b.Loop() {
		entries, bytes = c.Size()
	}
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(float64(bytes)/1e6, "MB")
	b.ReportMetric(float64(len(scaleSnap))/1e6, "snapshot-MB")
}

func BenchmarkBuckets(b *testing.B) {
	c := atScale(b)
	// A 7-day window in the middle of the 90 days, not on hour boundaries.
	mid := scaleEndMS - 45*dayMS + 7*hourMS + 1234
	cases := []struct {
		name     string
		sel      Selection
		from, to int64
	}{
		{"all/axis", Selection{}, math.MinInt64, math.MaxInt64},
		{"all/7d", Selection{}, mid, mid + 7*dayMS},
		{"kinds/7d", Selection{Kinds: accessKinds}, mid, mid + 7*dayMS},
		{"kinds/axis", Selection{Kinds: accessKinds}, math.MinInt64, math.MaxInt64},
		{"sites/axis", Selection{Sites: []uint32{1, 2, 3}}, math.MinInt64, math.MaxInt64},
		{"device/axis", Selection{Devices: []uint32{1}}, math.MinInt64, math.MaxInt64},
		{"device+kinds/axis", Selection{Devices: []uint32{1}, Kinds: accessKinds}, math.MinInt64, math.MaxInt64},
		{"device+site+kinds/7d", Selection{Devices: []uint32{1}, Sites: []uint32{1}, Kinds: accessKinds}, mid, mid + 7*dayMS},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				bs, _ := c.Buckets(tc.sel, tc.from, tc.to)
				n = len(bs)
			}
			b.ReportMetric(float64(n), "buckets")
		})
	}
}

func BenchmarkTotal(b *testing.B) {
	c := atScale(b)
	for _, tc := range []struct {
		name string
		sel  Selection
	}{
		{"all", Selection{}},
		{"kinds", Selection{Kinds: accessKinds}},
		{"device+kinds", Selection{Devices: []uint32{1}, Kinds: accessKinds}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				c.Total(tc.sel)
			}
		})
	}
}

// BenchmarkApply applies batches of 5000 new events, in time order after the
// 90 days, to a copy of the 10M counts: what the writer does after each
// commit. Each batch is an hour or so of new events, so most add a new hour
// and new entries, as in production.
func BenchmarkApply(b *testing.B) {
	atScale(b)
	c := New()
	if err := c.UnmarshalBinary(scaleSnap); err != nil {
		b.Fatal(err)
	}
	g := newScaleGen(2)
	step := int64(scaleDays*dayMS) / scaleEvents
	batch := make([]Delta, scaleBatch)
	seq := c.Seq()
	for b.Loop() {
		b.StopTimer()
		for j := range batch {
			batch[j] = g.event(scaleEndMS + (seq-scaleEvents+int64(j))*step)
		}
		seq += scaleBatch
		b.StartTimer()
		if err := c.Apply(seq, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal loads the snapshot of the 10M counts: the startup cost.
func BenchmarkUnmarshal(b *testing.B) {
	atScale(b)
	b.SetBytes(int64(len(scaleSnap)))
	for b.Loop() {
		if err := New().UnmarshalBinary(scaleSnap); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	c := atScale(b)
	for b.Loop() {
		if _, err := c.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
