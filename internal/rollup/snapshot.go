package rollup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// The snapshot format. It is stored next to the database, so a version other
// than these, from a newer doorlog, must be rejected (and the counts rebuilt
// from the events), never misread.
//
//	magic "dlrc", version byte 3
//	varint seq
//	series hours, series devDays
//	uvarint count of devices, then per device its code (uvarint for the
//	first, then uvarint increase) and uvarint site
//	per ladder of finer counts (fine.go: the site ladder, then the device
//	ladder), uvarint count of its levels, then the series of each, finest
//	last
//	crc32c of all of the above, 4 bytes little-endian
//
// A series is uvarint count of buckets, then per bucket its number (varint for
// the first, then uvarint increase over the previous), uvarint count of
// entries, and per entry its key (uvarint for the first, then uvarint
// increase) and uvarint count. Keys are site<<32 | kind and device<<32 |
// kind. The day table and the whole-axis totals are not stored: they are
// sums of the other two, rebuilt on load, which keeps the snapshot small
// and the tables consistent with each other.
//
// Version 2 is version 3 without the fine levels: it is read with every
// hour whole, and the dense ones are split again as events come.
//
// Version 1, written by doorlog before kinds had 32 bits, had no device
// list and keys packed site<<12 | kind and device<<32 | site<<12 | kind. It
// is still read, converted, so that an upgrade does not count every event
// again; the next snapshot is written as version 3.
const (
	snapshotMagic   = "dlrc"
	snapshotVersion = 3
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary returns a compact snapshot of the counts and their version,
// so that a restart loads the counts instead of rescanning every event.
//
// It excludes the writer, not readers: encoding 10 million events' counts
// takes milliseconds, which may delay an Apply but never a page.
func (c *Counts) MarshalBinary() ([]byte, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	e1, _ := seriesSize(c.hours)
	e2, _ := seriesSize(c.devDays)
	devs := c.devSites.all()
	// About 3 bytes an entry: a small key step and a small count.
	b := make([]byte, 0, 16+3*(e1+e2)+8*(len(c.hours)+len(c.devDays))+4*len(devs))
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.AppendVarint(b, c.seq)
	b = appendSeries(b, c.hours)
	b = appendSeries(b, c.devDays)
	b = binary.AppendUvarint(b, uint64(len(devs)))
	prev := uint32(0)
	for _, d := range devs {
		b = binary.AppendUvarint(b, uint64(d.device-prev))
		b = binary.AppendUvarint(b, uint64(d.site))
		prev = d.device
	}
	for _, lad := range c.ladders {
		b = binary.AppendUvarint(b, uint64(len(lad.fine)))
		for _, s := range lad.fine {
			b = appendSeries(b, s)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

func appendSeries[K key](b []byte, s []bucket[K]) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	for i := range s {
		if i == 0 {
			b = binary.AppendVarint(b, s[i].num)
		} else {
			b = binary.AppendUvarint(b, uint64(s[i].num-s[i-1].num))
		}
		b = binary.AppendUvarint(b, uint64(len(s[i].keys)))
		var prev K
		for j, k := range s[i].keys {
			b = binary.AppendUvarint(b, uint64(k-prev))
			b = binary.AppendUvarint(b, uint64(s[i].counts[j]))
			prev = k
		}
	}
	return b
}

// UnmarshalBinary replaces the counts and their version with a snapshot made
// by MarshalBinary (of this format version or an earlier one). It returns an
// error, leaving the counts unchanged, for data that is corrupt or of
// another format version, so that the caller falls back to counting the
// events.
func (c *Counts) UnmarshalBinary(data []byte) error {
	n, err := decodeSnapshot(data)
	if err != nil {
		return fmt.Errorf("rollup snapshot: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq, c.hours, c.days, c.devDays, c.sites, c.devs, c.total, c.devSites, c.maxKind = n.seq, n.hours, n.days, n.devDays, n.sites, n.devs, n.total, n.devSites, n.maxKind
	c.ladders, c.pending = n.ladders, nil
	return nil
}

var errCorrupt = errors.New("corrupt")

// decodeSnapshot parses and checks a snapshot into new counts.
func decodeSnapshot(data []byte) (*Counts, error) {
	if len(data) < len(snapshotMagic)+1+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot", errCorrupt)
	}
	version := data[len(snapshotMagic)]
	if version < 1 || version > snapshotVersion {
		return nil, fmt.Errorf("unsupported format version %d, want 1 to %d", version, snapshotVersion)
	}
	body := data[:len(data)-4]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(data[len(body):]); got != want {
		return nil, fmt.Errorf("%w: checksum %#x, want %#x", errCorrupt, got, want)
	}
	d := decoder{b: body[len(snapshotMagic)+1:]}
	n := New()
	n.seq = d.varint()
	if n.seq < 0 {
		d.fail("negative seq")
	}
	var devs []deviceSite
	if version == 1 {
		n.hours, n.devDays, devs = decodeV1(&d)
	} else {
		n.hours = decodeSeries[uint64](&d, firstHour, lastHour, math.MaxUint64)
		n.devDays = decodeSeries[uint64](&d, firstDay, lastDay, math.MaxUint64)
		devs = decodeDevices(&d)
	}
	if version >= 3 {
		for l := range n.ladders {
			lad := &n.ladders[l]
			if nl := d.uvarint(); d.err == nil && nl != uint64(len(lad.fine)) {
				d.fail("fine level count")
			}
			for i := range lad.fine {
				w := lad.widths[i+1]
				lad.fine[i] = decodeSeries[uint64](&d, floorDiv(math.MinInt64, w), floorDiv(math.MaxInt64, w), math.MaxUint64)
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	n.devSites.install(devs)
	if err := n.derive(); err != nil {
		return nil, err
	}
	if err := n.checkFine(); err != nil {
		return nil, err
	}
	return n, nil
}

// decodeDevices reads the device list, ascending by device.
func decodeDevices(d *decoder) []deviceSite {
	nd := d.uvarint()
	// Every device takes at least 2 bytes.
	if nd > uint64(len(d.b))/2 {
		d.fail("device count")
		return nil
	}
	out := make([]deviceSite, 0, nd)
	dev := uint64(0)
	for i := uint64(0); i < nd && d.err == nil; i++ {
		step := d.uvarint()
		if (i > 0 && step == 0) || step > math.MaxUint32-dev {
			d.fail("device order")
			return nil
		}
		dev += step
		site := d.uvarint()
		if site > math.MaxUint32 {
			d.fail("device site")
			return nil
		}
		out = append(out, deviceSite{uint32(dev), uint32(site)})
	}
	return out
}

// decodeV1 reads the tables of a version 1 snapshot and converts them: the
// site-level keys from site<<12 | kind to site<<32 | kind, which keeps their
// order, and the device-level keys from device<<32 | site<<12 | kind to
// device<<32 | kind, taking each device's site out into the device list. A
// device in two sites, which version 1 could hold but no store produced,
// fails the load.
func decodeV1(d *decoder) (hours, devDays []bucket[uint64], devs []deviceSite) {
	const kindBits, kindMask = 12, 1<<12 - 1
	h1 := decodeSeries[uint32](d, firstHour, lastHour, math.MaxUint32)
	dd1 := decodeSeries[uint64](d, firstDay, lastDay, math.MaxUint64)
	if d.err != nil {
		return nil, nil, nil
	}
	hours = make([]bucket[uint64], len(h1))
	for i, b := range h1 {
		keys := make([]uint64, len(b.keys))
		for j, k := range b.keys {
			keys[j] = pack(k>>kindBits, k&kindMask)
		}
		hours[i] = bucket[uint64]{num: b.num, total: b.total, table: table[uint64, uint32]{keys, b.counts}}
	}
	site := map[uint32]uint32{}
	for i := range dd1 {
		b := &dd1[i]
		for j, k := range b.keys {
			dev, sk := uint32(k>>32), uint32(k)
			s := sk >> kindBits
			if have, ok := site[dev]; ok && have != s {
				d.fail(fmt.Sprintf("device %d in two sites (%d and %d)", dev, have, s))
				return nil, nil, nil
			}
			site[dev] = s
			// Within a device, (site, kind) order is kind order when
			// the site is the same.
			b.keys[j] = pack(dev, sk&kindMask)
		}
	}
	for dev, s := range site {
		devs = append(devs, deviceSite{dev, s})
	}
	return hours, dd1, devs
}

// decoder reads varints, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// decodeSeries reads a series of buckets numbered first through last whose
// keys are at most maxKey, checking that it is well formed: buckets and keys
// strictly ascending, no empty bucket, no zero count.
func decodeSeries[K key](d *decoder, first, last int64, maxKey uint64) []bucket[K] {
	nb := d.uvarint()
	// Every bucket takes at least 3 bytes, so a corrupt count cannot make
	// this allocate more than the data.
	if nb > uint64(len(d.b))/3 {
		d.fail("bucket count")
		return nil
	}
	s := make([]bucket[K], 0, nb)
	num := int64(0)
	for i := uint64(0); i < nb && d.err == nil; i++ {
		if i == 0 {
			num = d.varint()
		} else {
			step := d.uvarint()
			if step == 0 || step > uint64(last-num) {
				d.fail("bucket order")
				return nil
			}
			num += int64(step)
		}
		if num < first || num > last {
			d.fail("bucket number")
			return nil
		}
		ne := d.uvarint()
		if ne == 0 || ne > uint64(len(d.b))/2 {
			d.fail("entry count")
			return nil
		}
		b := bucket[K]{num: num, table: table[K, uint32]{make([]K, ne), make([]uint32, ne)}}
		k := uint64(0)
		for j := range b.keys {
			step := d.uvarint()
			if (j > 0 && step == 0) || step > maxKey-k {
				d.fail("key order")
				return nil
			}
			k += step
			cnt := d.uvarint()
			if cnt == 0 || cnt > math.MaxUint32 {
				d.fail("count")
				return nil
			}
			b.keys[j], b.counts[j] = K(k), uint32(cnt)
			b.total += int64(cnt)
		}
		s = append(s, b)
	}
	return s
}

// derive rebuilds the day table and the whole-axis totals from the hour and
// device tables, checking that the two agree on every day's total. It merges
// sorted tables pairwise, in reused buffers, so that loading takes little
// more memory than the result.
func (c *Counts) derive() error {
	var acc, tmp table[uint64, uint64]
	c.days = make([]bucket[uint64], 0, len(c.devDays))
	for i := 0; i < len(c.hours); {
		day := floorDiv(c.hours[i].num, 24)
		acc.keys, acc.counts = acc.keys[:0], acc.counts[:0]
		b := bucket[uint64]{num: day}
		for ; i < len(c.hours) && floorDiv(c.hours[i].num, 24) == day; i++ {
			tmp = addInto(tmp, acc, c.hours[i].table)
			acc, tmp = tmp, acc
			b.total += c.hours[i].total
		}
		b.keys = slices.Clone(acc.keys)
		b.counts = make([]uint32, len(acc.counts))
		for j, n := range acc.counts {
			if n > math.MaxUint32 {
				return fmt.Errorf("day %d entry %#x: %w", day, acc.keys[j], errOverflow)
			}
			b.counts[j] = uint32(n)
		}
		c.days = append(c.days, b)
	}
	if len(c.days) != len(c.devDays) {
		return fmt.Errorf("%w: %d days in the hour table, %d in the device table", errCorrupt, len(c.days), len(c.devDays))
	}
	for i := range c.days {
		if c.days[i].num != c.devDays[i].num || c.days[i].total != c.devDays[i].total {
			return fmt.Errorf("%w: day %d has %d events in the hour table, day %d has %d in the device table",
				errCorrupt, c.days[i].num, c.days[i].total, c.devDays[i].num, c.devDays[i].total)
		}
	}

	acc.keys, acc.counts = acc.keys[:0], acc.counts[:0]
	for i := range c.days {
		tmp = addInto(tmp, acc, c.days[i].table)
		acc, tmp = tmp, acc
		c.total += c.days[i].total
	}
	c.sites = table[uint64, uint64]{slices.Clone(acc.keys), slices.Clone(acc.counts)}

	var dacc, dtmp table[uint64, uint64]
	for i := range c.devDays {
		dtmp = addInto(dtmp, dacc, c.devDays[i].table)
		dacc, dtmp = dtmp, dacc
	}
	c.devs = table[uint64, uint64]{slices.Clone(dacc.keys), slices.Clone(dacc.counts)}
	for _, k := range c.devs.keys {
		if _, ok := c.devSites.get(uint32(k >> 32)); !ok {
			return fmt.Errorf("%w: device %d has counts but no site", errCorrupt, k>>32)
		}
		c.maxKind = max(c.maxKind, uint32(k))
	}
	return nil
}

// addInto returns acc plus t (both sorted), merged into the buffers of out.
// The sums cannot overflow: they are sums of uint32 counts that a snapshot of
// any possible size holds.
func addInto[K key](out, acc table[K, uint64], t table[K, uint32]) table[K, uint64] {
	out.keys, out.counts = out.keys[:0], out.counts[:0]
	i, j := 0, 0
	for i < len(acc.keys) && j < len(t.keys) {
		switch a, b := acc.keys[i], t.keys[j]; {
		case a < b:
			out.keys, out.counts = append(out.keys, a), append(out.counts, acc.counts[i])
			i++
		case a > b:
			out.keys, out.counts = append(out.keys, b), append(out.counts, uint64(t.counts[j]))
			j++
		default:
			out.keys, out.counts = append(out.keys, a), append(out.counts, acc.counts[i]+uint64(t.counts[j]))
			i++
			j++
		}
	}
	out.keys, out.counts = append(out.keys, acc.keys[i:]...), append(out.counts, acc.counts[i:]...)
	for ; j < len(t.keys); j++ {
		out.keys, out.counts = append(out.keys, t.keys[j]), append(out.counts, uint64(t.counts[j]))
	}
	return out
}
