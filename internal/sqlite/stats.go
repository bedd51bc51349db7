package sqlite

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The aggregations of charts and the devices view. Like CountEvents, they
// take what they can from the exact counts (package rollup) and count only
// the edges of the window the counts cannot split, from the events table
// (without a device filter) or the device runs (with one), reading rows
// at the counts' version so that both parts are of the same events:
//
//   - CountByHour: whole hours by (site, kind) from the hour table, split
//     by kind and mapped to categories; a partial hour at either edge is
//     counted by kind from the table. With a device filter (the hour table
//     has no devices) the runs of the selected devices are read for the
//     days the device counts say hold their events.
//   - CountByDevice: whole days from the device table; the partial days at
//     the edges, narrowed by the hour table to the hours that hold selected
//     events, from the table grouped by device, or the runs with a device
//     filter.
//   - LastEventTimes: per device, its newest day of runs (one seek of the
//     runs' primary key) and the newest time in that day's runs.

// errModelFilter refuses the filters on the model in an aggregation.
var errModelFilter = doorlog.Errorf(doorlog.EINVALID, "the identifier and free-text filters cannot be counted without reading every event; they are not supported here")

// errStoredAfter refuses a watermark's filter in an aggregation: the counts
// do not know the order events were stored in.
var errStoredAfter = doorlog.Errorf(doorlog.EINVALID, "events stored after an id cannot be counted by hour or device")

// CountByHour returns the events matching f per UTC hour of its window and
// category, every hour of the window included.
func (db *DB) CountByHour(ctx context.Context, f doorlog.EventFilter) ([]doorlog.HourCount, error) {
	if f.From.IsZero() || f.To.IsZero() {
		return nil, doorlog.Errorf(doorlog.EINVALID, "counting by hour needs both ends of the window")
	}
	if f.HasModelFilter() {
		return nil, errModelFilter
	}
	if f.StoredAfter != "" {
		return nil, errStoredAfter
	}
	fromMS, toMS := ceilMillis(f.From), millis(f.To)
	if fromMS > toMS {
		return []doorlog.HourCount{}, nil
	}
	h0, h1 := floorDiv(fromMS, hourMS), floorDiv(toMS, hourMS)
	if h1-h0 >= doorlog.MaxCountHours {
		return nil, doorlog.Errorf(doorlog.EINVALID, "the window spans more than %d hours", doorlog.MaxCountHours)
	}
	out := make([]doorlog.HourCount, h1-h0+1)
	for i := range out {
		out[i].Hour = fromMillis((h0 + int64(i)) * hourMS)
	}
	p, ok, err := db.plan(ctx, f)
	if err != nil {
		return nil, wrap("count by hour", err)
	}
	if !ok {
		return out, nil
	}
	add := func(timeMS, kind, n int64) error {
		k, err := db.kind(ctx, kind)
		if err != nil {
			return err
		}
		if k.category < 1 || k.category >= int64(len(categoryByCode)) {
			return fmt.Errorf("kind %d has category %d", kind, k.category)
		}
		out[floorDiv(timeMS, hourMS)-h0].Add(categoryByCode[k.category], n)
		return nil
	}
	c, err := db.countsFor(ctx)
	if err != nil {
		return nil, err
	}
	if p.byDevice {
		buckets, maxSeq := c.Buckets(p.selection(), p.from, p.to)
		for _, b := range buckets {
			entries, err := db.runEntries(ctx, &p, max(b.FromMS, p.from), min(b.ToMS, p.to), maxSeq, nil, false)
			if err != nil {
				return nil, wrap("count by hour", err)
			}
			for _, e := range entries {
				if err := add(e.timeMS, e.kind, 1); err != nil {
					return nil, wrap("count by hour", err)
				}
			}
		}
		return out, nil
	}
	buckets, maxSeq := c.HoursByKind(p.selection(), p.from, p.to)
	for _, b := range buckets {
		if b.Exact {
			for _, k := range b.Kinds {
				if err := add(b.FromMS, int64(k.Kind), k.N); err != nil {
					return nil, wrap("count by hour", err)
				}
			}
			continue
		}
		w := p.where(max(b.FromMS, p.from), min(b.ToMS, p.to), maxSeq)
		err := db.groupCount(ctx, `SELECT kind, count(*) FROM events`+w.String()+` GROUP BY kind`, w.args, func(kind, n int64) error {
			return add(b.FromMS, kind, n)
		})
		if err != nil {
			return nil, wrap("count by hour", err)
		}
	}
	return out, nil
}

// CountByDevice returns the events matching f per device id, for the
// devices that have any.
func (db *DB) CountByDevice(ctx context.Context, f doorlog.EventFilter) (map[string]int64, error) {
	if f.HasModelFilter() {
		return nil, errModelFilter
	}
	if f.StoredAfter != "" {
		return nil, errStoredAfter
	}
	p, ok, err := db.plan(ctx, f)
	if err != nil {
		return nil, wrap("count by device", err)
	}
	out := map[string]int64{}
	if !ok {
		return out, nil
	}
	c, err := db.countsFor(ctx)
	if err != nil {
		return nil, err
	}
	sums, rest, maxSeq := c.DaysByDevice(p.selection(), p.from, p.to)
	byCode := make(map[int64]int64, len(sums))
	for d, n := range sums {
		byCode[int64(d)] += n
	}
	var ranges [][2]int64
	for _, b := range rest {
		if lo, hi := max(b.FromMS, p.from), min(b.ToMS, p.to); lo <= hi {
			ranges = append(ranges, [2]int64{lo, hi})
		}
	}
	// The device runs hold each event's time, seq and kind without its
	// model: counting them reads a few bytes an event where the table
	// would read the whole row.
	if err := db.runCounts(ctx, &p, ranges, maxSeq, byCode); err != nil {
		return nil, wrap("count by device", err)
	}
	for code, n := range byCode {
		if code == 0 || n == 0 {
			continue // the server's own events
		}
		id, err := db.deviceID(ctx, code)
		if err != nil {
			return nil, wrap("count by device", err)
		}
		out[id] = n
	}
	return out, nil
}

// groupCount runs a query of (code, count) rows and hands each to fn once
// the rows are closed: fn may look codes up in the read pool, which must
// not wait on the connection the query holds.
func (db *DB) groupCount(ctx context.Context, query string, args []any, fn func(code, n int64) error) error {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	var pairs [][2]int64
	for rows.Next() {
		var code, n int64
		if err := rows.Scan(&code, &n); err != nil {
			rows.Close()
			return err
		}
		pairs = append(pairs, [2]int64{code, n})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, pr := range pairs {
		if err := fn(pr[0], pr[1]); err != nil {
			return err
		}
	}
	return nil
}

// runCounts adds to counts, by device code, the run entries of p's devices
// (every device when p is not scoped) of p's kinds with seq <= maxSeq whose
// time is in one of ranges (ascending, disjoint, both ends inclusive). Each
// run of the days the ranges touch is decoded once, however many ranges
// fall in its day.
func (db *DB) runCounts(ctx context.Context, p *plan, ranges [][2]int64, maxSeq int64, counts map[int64]int64) error {
	if len(ranges) == 0 {
		return nil
	}
	var w where
	if p.scoped {
		w.in("device", p.devices)
	}
	w.add("day BETWEEN ? AND ?", floorDiv(ranges[0][0], dayMS), floorDiv(ranges[len(ranges)-1][1], dayMS))
	rows, err := db.r.QueryContext(ctx, `SELECT device, day, data FROM device_runs`+w.String(), w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var entries []runEntry
	for rows.Next() {
		var device, day int64
		var data []byte
		if err := rows.Scan(&device, &day, &data); err != nil {
			return err
		}
		// Decode the run only up to the end of the last range in its
		// day: a partial day at the window's start needs the morning of
		// a run, not the rest of it.
		to := ranges[len(ranges)-1][1]
		dayEnd := int64(math.MaxInt64)
		if day < floorDiv(math.MaxInt64, dayMS) {
			dayEnd = day*dayMS + dayMS - 1
		}
		if i := sort.Search(len(ranges), func(i int) bool { return ranges[i][0] > dayEnd }); i > 0 {
			to = min(to, ranges[i-1][1])
		}
		if entries, err = decodeRunTo(entries[:0], data, to); err != nil {
			return err
		}
		// Entries are in time order, so one pass walks the ranges along.
		r := 0
		for _, e := range entries {
			for r < len(ranges) && ranges[r][1] < e.timeMS {
				r++
			}
			if r == len(ranges) {
				break
			}
			if e.timeMS < ranges[r][0] || e.seq > maxSeq {
				continue
			}
			if p.kinds != nil {
				if _, ok := slices.BinarySearch(p.kinds, e.kind); !ok {
					continue
				}
			}
			counts[device]++
		}
	}
	return rows.Err()
}

// LastEventTimes returns the time of the newest event of each device f
// selects that has events. A device's newest day of runs is found by one
// seek of the runs' primary key (device, day, first_seq), and its newest
// time is in that day's runs, so the cost is a few rows per device however
// many events it has.
func (db *DB) LastEventTimes(ctx context.Context, f doorlog.DeviceFilter) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	var w where
	ids, all := visibleSites(f.Scope, f.SiteIDs)
	var sites []int64
	if !all {
		for _, id := range ids {
			code, ok, err := db.siteCode(ctx, id)
			if err != nil {
				return nil, wrap("last event times", err)
			}
			if ok && !slices.Contains(sites, code) {
				sites = append(sites, code)
			}
		}
		if len(sites) == 0 {
			return out, nil
		}
		w.in("d.site", sites)
	}
	// When the present is busy, the devices among the newest events
	// first: reading the runs of every device's newest day would decode
	// every event of that day.
	c, err := db.countsFor(ctx)
	if err != nil {
		return nil, wrap("last event times", err)
	}
	newest := map[int64]int64{}
	if c.NewestDay() > busyDay {
		if newest, err = db.newestEventTimes(ctx); err != nil {
			return nil, wrap("last event times", err)
		}
	}
	if !all {
		for code := range newest {
			d, err := db.deviceOfCode(ctx, code)
			if err != nil {
				return nil, wrap("last event times", err)
			}
			if !slices.Contains(sites, d.siteCode) {
				delete(newest, code)
			}
		}
	}
	if len(newest) > 0 {
		found := make([]byte, 0, 8*len(newest))
		found = append(found, '[')
		for code := range newest {
			if len(found) > 1 {
				found = append(found, ',')
			}
			found = strconv.AppendInt(found, code, 10)
		}
		w.add("d.code NOT IN (SELECT value FROM json_each(?))", string(append(found, ']')))
	}
	rows, err := db.r.QueryContext(ctx, newestRunsSQL+w.String(), w.args...)
	if err != nil {
		return nil, wrap("last event times", err)
	}
	var entries []runEntry
	for rows.Next() {
		var device int64
		var data []byte
		if err := rows.Scan(&device, &data); err != nil {
			rows.Close()
			return nil, wrap("last event times", err)
		}
		if entries, err = decodeRun(entries[:0], data); err != nil {
			rows.Close()
			return nil, wrap("last event times", err)
		}
		for _, e := range entries {
			if t, ok := newest[device]; !ok || e.timeMS > t {
				newest[device] = e.timeMS
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("last event times", err)
	}
	for code, ms := range newest {
		id, err := db.deviceID(ctx, code)
		if err != nil {
			return nil, wrap("last event times", err)
		}
		out[id] = fromMillis(ms)
	}
	return out, nil
}

// busyDay is the number of events in the newest day above which
// LastEventTimes reads the newest events before the device runs: below it,
// the runs of a day decode in a few milliseconds at most.
const busyDay = 50_000

// newestScan is how many of the newest events LastEventTimes reads before
// it reads device runs: the busy devices, whose newest day of runs holds
// many events, are among them; the quiet ones have few events to decode.
// It costs about a millisecond.
const newestScan = 2_000

// newestEventsSQL is the newest event time of each device among the newest
// events: a read of the table's key backwards, up to the LIMIT.
const newestEventsSQL = `SELECT device, max(time_ms) FROM
	(SELECT time_ms, device FROM events ORDER BY time_ms DESC, seq DESC LIMIT ?)
	WHERE device IS NOT NULL GROUP BY device`

// newestEventTimes returns the newest event time of each device that has
// one of the newestScan newest events (by time): exact for those devices,
// since any later event of theirs would be among them.
func (db *DB) newestEventTimes(ctx context.Context) (map[int64]int64, error) {
	newest := map[int64]int64{}
	err := db.groupCount(ctx, newestEventsSQL, []any{newestScan}, func(device, ms int64) error {
		newest[device] = ms
		return nil
	})
	return newest, err
}

// newestRunsSQL selects the runs of each device's newest day. CROSS JOIN
// keeps devices the outer loop: left to itself, the planner may scan every
// run and look each device up instead. The newest day is then one seek per
// device (SQLite's min/max optimisation on the primary key), and that
// day's runs another.
const newestRunsSQL = `SELECT r.device, r.data FROM devices d
	CROSS JOIN device_runs r ON r.device = d.code AND r.day = (SELECT max(day) FROM device_runs WHERE device = d.code)`

// ceilMillis is the first whole millisecond at or after t, where an
// inclusive From starts.
func ceilMillis(t time.Time) int64 {
	ms := millis(t)
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}
