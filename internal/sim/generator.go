package sim

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
)

// TimeLayout is how the generator writes event times: RFC 3339 in UTC with
// exactly three fractional digits.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// weighted is one event key and its share of a device's spontaneous events.
type weighted struct {
	key    string
	weight float64
}

// panelMix is what a door panel logs on its own, per mille; door sensor
// events and call-host grants are not in it because they only ever follow
// another event (see Generator.after).
var panelMix = []weighted{
	{"access_granted_by_valid_identifier", 430},
	{"access_granted_by_valid_face_identifier", 140},
	{"lock_was_opened_by_exit_btn", 70},
	{"outgoing_call", 60},
	{"outgoing_call_missed", 25},
	{"incoming_call", 20},
	{"access_granted_by_api_call", 10},
	{"access_denied_by_unknown_card", 35},
	{"access_denied_by_not_valid_identifier", 15},
	{"access_denied_by_not_valid_input_code", 15},
	{"access_denied_by_not_valid_face_identifier", 5},
	{"cam_light", 35},
	{"sip_registration_lost", 1.5},
	{"device_booted", 1},
	{"tamper_event", 0.8},
}

// liftMix is what a lift controller logs: a resident shows a card at the
// lift reader and the lift is called to their floor.
var liftMix = []weighted{
	{"lift_call_success", 850},
	{"access_denied_by_unknown_card", 40},
	{"access_denied_by_not_valid_identifier", 20},
	{"lift_call_error", 15},
	{"lift_module_access_error", 3},
	{"device_booted", 1.5},
	{"tamper_event", 0.8},
}

// Follow-up probabilities and delays.
const (
	// doorOpenAfterGrant is how often a door is actually pushed open after
	// a grant or an exit button press (the sensor sees it).
	doorOpenAfterGrant = 0.35
	// hostOpensAfterCall is how often an answered call from the panel ends
	// with the flat opening the door.
	hostOpensAfterCall = 0.45
	// heldOpen is how often an opened door is held open too long.
	heldOpen = 0.015
	// heldOpenLimit is the panel's "door not closed" timeout, in seconds.
	heldOpenLimit = 60
)

var firstNames = []string{
	"Emma", "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah",
	"Mia", "Jack", "Sophia", "Leo", "Grace", "Arthur", "Lily", "Oscar",
	"Freya", "Muhammad", "Ella", "Thomas", "Priya", "Mateusz", "Chloe",
	"Daniel", "Aisha", "Samuel", "Zofia", "Lucas", "Hannah", "Ravi",
}

var surnames = []string{
	"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson",
	"Davies", "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker",
	"White", "Roberts", "Green", "Hall", "Khan", "Clarke", "Nowak", "Murphy",
	"O'Connor", "Hughes", "Edwards", "Kowalski", "Singh", "Lewis", "Young",
	"Bennett",
}

var liftErrors = []string{
	"Lift controller is not responding",
	"Destination floor is not available",
	"Lift is out of service",
}

var liftModuleErrors = []string{
	"Cannot connect to the lift module",
	"Lift module answered with an error",
}

// resident is one person with credentials at a site.
type resident struct {
	name  string
	flat  int
	floor int
	card  int
	ukey  int
	face  int
}

// deviceState is what the generator remembers about a device.
type deviceState struct {
	Device
	lift    bool
	prefix  string
	counter int64
	// doorOpen is true from the moment a door sensor opening is scheduled
	// until its closing has been emitted, so openings never overlap.
	doorOpen bool
	camOn    bool
	locks    int
	lifts    int
	roster   []resident
}

// pendingEvent is a follow-up event due at a later time on a device.
type pendingEvent struct {
	due   time.Time
	seq   uint64
	dev   *deviceState
	key   string
	model map[string]any
	// who is the identifier (number, type, owner, apartment_address) that
	// started the chain, when there was one.
	who map[string]any
}

type pendingQueue []*pendingEvent

func (q pendingQueue) Len() int { return len(q) }
func (q pendingQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q pendingQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pendingQueue) Push(x any)   { *q = append(*q, x.(*pendingEvent)) }
func (q *pendingQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return p
}

// Generator makes realistic device events one at a time. The same seed and
// devices always give the same events for the same times. It keeps state
// between calls (door sensor openings waiting for their closing, camera
// lights, per-device counters), so it is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	runTag  string
	devices []*deviceState
	cum     []float64
	pending pendingQueue
	seq     uint64
}

// NewGenerator returns a generator of events for devices, seeded with seed.
// Each device gets an activity level (a main entrance is busier than a bike
// store) and each site a roster of residents with cards, keys and faces.
// Source ids are unique per device and differ between seeds, so runs with
// different seeds never deduplicate each other's events on a server, while
// replaying one seed does. devices must not be empty.
func NewGenerator(seed int64, devices []Device) *Generator {
	if len(devices) == 0 {
		panic("sim: NewGenerator needs at least one device")
	}
	g := &Generator{
		rng:    rand.New(rand.NewPCG(uint64(seed), 0x646f6f726c6f67)),
		runTag: fmt.Sprintf("%08x", splitmix64(uint64(seed))>>32),
	}
	rosters := map[string][]resident{}
	total := 0.0
	for _, d := range devices {
		roster, ok := rosters[d.SiteID]
		if !ok {
			roster = g.newRoster()
			rosters[d.SiteID] = roster
		}
		st := &deviceState{Device: d, lift: isLift(d), prefix: d.ID, roster: roster, locks: 1, lifts: 1}
		if len(st.prefix) > 8 {
			st.prefix = st.prefix[:8]
		}
		if g.rng.Float64() < 0.3 {
			st.locks = 2
		}
		if st.lift {
			st.lifts = 1 + g.rng.IntN(3)
		}
		total += baseActivity(d) * (0.6 + 0.8*g.rng.Float64())
		g.devices = append(g.devices, st)
		g.cum = append(g.cum, total)
	}
	return g
}

// splitmix64 scrambles a seed so that nearby seeds give unrelated tags.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (g *Generator) newRoster() []resident {
	floors := 3 + g.rng.IntN(12)
	flatsPerFloor := 4
	people := 20 + g.rng.IntN(40)
	roster := make([]resident, people)
	for i := range roster {
		flat := 1 + g.rng.IntN(floors*flatsPerFloor)
		roster[i] = resident{
			name:  firstNames[g.rng.IntN(len(firstNames))] + " " + surnames[g.rng.IntN(len(surnames))],
			flat:  flat,
			floor: (flat-1)/flatsPerFloor + 1,
			card:  1_000_000 + g.rng.IntN(15_000_000),
			ukey:  1_000_000 + g.rng.IntN(15_000_000),
			face:  1 + g.rng.IntN(5000),
		}
	}
	return roster
}

// Next returns one event at time t: a follow-up that has fallen due (a door
// sensor closing a few seconds after its opening, say), or else a new event
// on a device picked by activity. Call it with non-decreasing times.
func (g *Generator) Next(t time.Time) ingest.Item {
	if len(g.pending) > 0 && !g.pending[0].due.After(t) {
		p := heap.Pop(&g.pending).(*pendingEvent)
		return g.emit(p.dev, t, p.key, p.model, p.who)
	}
	d := g.pickDevice()
	key, model, who := g.fresh(d)
	return g.emit(d, t, key, model, who)
}

// Pending returns how many follow-up events are scheduled and not yet
// emitted.
func (g *Generator) Pending() int { return len(g.pending) }

// Drain emits every scheduled follow-up, and whatever those schedule in
// turn, each at the time it falls due, in time order; afterwards every door
// is closed again. A simulation that stops can send them last so that no
// opening is left without its closing.
func (g *Generator) Drain() []ingest.Item {
	var out []ingest.Item
	for len(g.pending) > 0 {
		p := heap.Pop(&g.pending).(*pendingEvent)
		out = append(out, g.emit(p.dev, p.due, p.key, p.model, p.who))
	}
	return out
}

func (g *Generator) pickDevice() *deviceState {
	x := g.rng.Float64() * g.cum[len(g.cum)-1]
	i := sort.SearchFloat64s(g.cum, x)
	if i >= len(g.devices) {
		i = len(g.devices) - 1
	}
	return g.devices[i]
}

func (g *Generator) pickKey(mix []weighted) string {
	total := 0.0
	for _, w := range mix {
		total += w.weight
	}
	x := g.rng.Float64() * total
	for _, w := range mix {
		if x < w.weight {
			return w.key
		}
		x -= w.weight
	}
	return mix[len(mix)-1].key
}

func (g *Generator) resident(d *deviceState) resident {
	return d.roster[g.rng.IntN(len(d.roster))]
}

func (g *Generator) lock(d *deviceState) int {
	if d.locks > 1 && g.rng.Float64() < 0.2 {
		return 2
	}
	return 1
}

// identifier returns a resident's card or UKEY (or face id) as seed 001's
// identifier fields.
func (g *Generator) identifier(r resident, face bool) map[string]any {
	m := map[string]any{"owner": r.name, "apartment_address": fmt.Sprintf("Flat %d", r.flat)}
	switch {
	case face:
		m["type"], m["number"] = "face_id", r.face
	case g.rng.Float64() < 0.7:
		m["type"], m["number"] = "card", r.card
	default:
		m["type"], m["number"] = "ukey", r.ukey
	}
	return m
}

func liftUser(r resident) map[string]any {
	return map[string]any{"link_id": nil, "name": r.name}
}

func floorInfo(r resident) map[string]any {
	return map[string]any{"id": r.floor, "short_name": strconv.Itoa(r.floor)}
}

// fresh makes a new spontaneous event for a device. It returns the key, the
// model and, for identifier events, the identifier fields that follow-ups
// may repeat.
func (g *Generator) fresh(d *deviceState) (string, map[string]any, map[string]any) {
	mix := panelMix
	if d.lift {
		mix = liftMix
	}
	key := g.pickKey(mix)
	switch key {
	case "access_granted_by_valid_identifier", "access_denied_by_not_valid_identifier",
		"access_granted_by_valid_face_identifier", "access_denied_by_not_valid_face_identifier":
		face := key == "access_granted_by_valid_face_identifier" || key == "access_denied_by_not_valid_face_identifier"
		who := g.identifier(g.resident(d), face)
		model := map[string]any{"lock": g.lock(d)}
		for k, v := range who {
			model[k] = v
		}
		return key, model, who
	case "access_denied_by_unknown_card":
		return key, map[string]any{"card": fmt.Sprintf("%010d", g.rng.Int64N(1<<32))}, nil
	case "access_denied_by_not_valid_input_code":
		return key, map[string]any{"code": fmt.Sprintf("%04d", g.rng.IntN(10000)), "lock": g.lock(d)}, nil
	case "access_granted_by_api_call":
		requestors := []string{"link_app", "link_app", "link_app", "web_ui", "api"}
		return key, map[string]any{"requestor": requestors[g.rng.IntN(len(requestors))], "lock": g.lock(d)}, nil
	case "lock_was_opened_by_exit_btn":
		return key, map[string]any{"lock": g.lock(d)}, nil
	case "outgoing_call":
		return key, map[string]any{"number": strconv.Itoa(g.resident(d).flat), "answered": true}, nil
	case "outgoing_call_missed":
		return key, map[string]any{"number": strconv.Itoa(g.resident(d).flat), "answered": false}, nil
	case "incoming_call":
		number := "9000" // the concierge desk
		if g.rng.Float64() < 0.4 {
			number = strconv.Itoa(g.resident(d).flat)
		}
		return key, map[string]any{"number": number, "answered": true}, nil
	case "cam_light":
		d.camOn = !d.camOn
		state := "off"
		if d.camOn {
			state = "on"
		}
		return key, map[string]any{"state": state}, nil
	case "lift_call_success":
		r := g.resident(d)
		lift := 1 + g.rng.IntN(d.lifts)
		return key, map[string]any{"info": map[string]any{
			"user":        liftUser(r),
			"destination": floorInfo(r),
			"lift":        map[string]any{"id": lift, "short_name": fmt.Sprintf("Lift %c", 'A'+rune(lift-1))},
		}}, nil
	case "lift_call_error":
		r := g.resident(d)
		return key, map[string]any{
			"info":  map[string]any{"user": liftUser(r), "destination": floorInfo(r)},
			"error": map[string]any{"message": liftErrors[g.rng.IntN(len(liftErrors))]},
		}, nil
	case "lift_module_access_error":
		return key, map[string]any{
			"info":  map[string]any{"user": liftUser(g.resident(d))},
			"error": map[string]any{"message": liftModuleErrors[g.rng.IntN(len(liftModuleErrors))]},
		}, nil
	default: // tamper_event, device_booted, sip_registration_lost
		return key, map[string]any{}, nil
	}
}

// emit turns an event into an ingest item and schedules what follows it.
func (g *Generator) emit(d *deviceState, t time.Time, key string, model, who map[string]any) ingest.Item {
	d.counter++
	raw, err := json.Marshal(model)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal model of %s: %v", key, err)) // only plain values are ever put in a model
	}
	it := ingest.Item{
		DeviceID: d.ID,
		Time:     json.RawMessage(`"` + t.UTC().Format(TimeLayout) + `"`),
		Key:      key,
		Model:    raw,
		SourceID: fmt.Sprintf("%s-%s-%d", d.prefix, g.runTag, d.counter),
	}
	g.after(d, t, key, model, who)
	return it
}

// after schedules the events that follow an event: the door opening after a
// grant, the closing after an opening (or the alarm when it is held open too
// long), the flat opening the door after an answered call.
func (g *Generator) after(d *deviceState, t time.Time, key string, model, who map[string]any) {
	switch key {
	case "access_granted_by_valid_identifier", "access_granted_by_valid_face_identifier",
		"access_granted_by_call_host", "access_granted_by_api_call", "lock_was_opened_by_exit_btn":
		if d.lift || d.doorOpen || g.rng.Float64() >= doorOpenAfterGrant {
			return
		}
		d.doorOpen = true
		g.schedule(d, t.Add(g.between(time.Second, 3*time.Second)), "door_sensor_was_opened", map[string]any{"lock": model["lock"]}, who)
	case "outgoing_call":
		if g.rng.Float64() >= hostOpensAfterCall {
			return
		}
		g.schedule(d, t.Add(g.between(4*time.Second, 20*time.Second)), "access_granted_by_call_host",
			map[string]any{"host": model["number"], "lock": 1}, nil)
	case "door_sensor_was_opened":
		if g.rng.Float64() < heldOpen {
			alarm := map[string]any{"lock": model["lock"], "lock_opened_time": heldOpenLimit}
			for k, v := range who {
				alarm[k] = v
			}
			g.schedule(d, t.Add(heldOpenLimit*time.Second), "door_was_not_closed_too_long", alarm, who)
			return
		}
		g.schedule(d, t.Add(g.between(3*time.Second, 12*time.Second)), "door_sensor_was_closed", map[string]any{"lock": model["lock"]}, nil)
	case "door_was_not_closed_too_long":
		g.schedule(d, t.Add(g.between(10*time.Second, 120*time.Second)), "door_sensor_was_closed", map[string]any{"lock": model["lock"]}, nil)
	case "door_sensor_was_closed":
		d.doorOpen = false
	}
}

func (g *Generator) schedule(d *deviceState, due time.Time, key string, model, who map[string]any) {
	g.seq++
	heap.Push(&g.pending, &pendingEvent{due: due, seq: g.seq, dev: d, key: key, model: model, who: who})
}

// between returns a random duration in [lo, hi), to the millisecond.
func (g *Generator) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(g.rng.Int64N(int64((hi-lo)/time.Millisecond)))*time.Millisecond
}
