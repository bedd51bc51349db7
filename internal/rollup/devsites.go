package rollup

import (
	"fmt"
	"slices"
	"unsafe"
)

// deviceSites is the site of each device the deltas named, so that the
// device table need not repeat it in every entry. Device codes are the
// store's rowids, dense from 1, so most are found by indexing a slice; a
// code beyond maxDenseDevice (or a device of site 2^32-1, which the slice
// cannot hold) goes to a map, so that one odd code costs an entry, not a
// slice spanning the gap.
type deviceSites struct {
	// dense holds site+1 by device code; 0 is a device not seen.
	dense  []uint32
	sparse map[uint32]uint32
}

// maxDenseDevice bounds the slice to 4 MiB: a million devices.
const maxDenseDevice = 1 << 20

// deviceSite is a device and its site.
type deviceSite struct{ device, site uint32 }

func (s *deviceSites) get(device uint32) (site uint32, ok bool) {
	if int(device) < len(s.dense) {
		if v := s.dense[device]; v != 0 {
			return v - 1, true
		}
	}
	site, ok = s.sparse[device]
	return site, ok
}

// plan returns the devices of deltas not seen before, with their sites, or
// an error when a delta puts a device in another site than it has: the
// counts of a device that moved could no longer be selected by site.
func (s *deviceSites) plan(deltas []Delta) ([]deviceSite, error) {
	var added []deviceSite
	var addedSite map[uint32]uint32
	last := deviceSite{device: 1, site: 1}
	lastOK := false
	for _, d := range deltas {
		if d.N == 0 {
			continue
		}
		if lastOK && d.Device == last.device && d.Site == last.site {
			continue
		}
		site, ok := s.get(d.Device)
		if !ok {
			site, ok = addedSite[d.Device]
		}
		if ok && site != d.Site {
			return nil, fmt.Errorf("%w: device %d is in site %d, not %d", ErrInvalid, d.Device, site, d.Site)
		}
		if !ok {
			if addedSite == nil {
				addedSite = map[uint32]uint32{}
			}
			addedSite[d.Device] = d.Site
			added = append(added, deviceSite{d.Device, d.Site})
		}
		last, lastOK = deviceSite{d.Device, d.Site}, true
	}
	return added, nil
}

// install adds devices returned by plan.
func (s *deviceSites) install(added []deviceSite) {
	for _, a := range added {
		if a.device >= maxDenseDevice || a.site == ^uint32(0) {
			if s.sparse == nil {
				s.sparse = map[uint32]uint32{}
			}
			s.sparse[a.device] = a.site
			continue
		}
		if int(a.device) >= len(s.dense) {
			s.dense = slices.Grow(s.dense, int(a.device)+1-len(s.dense))
			s.dense = s.dense[:int(a.device)+1]
		}
		s.dense[a.device] = a.site + 1
	}
}

// all returns every device and its site, ascending by device.
func (s *deviceSites) all() []deviceSite {
	var out []deviceSite
	for d, v := range s.dense {
		if v != 0 {
			out = append(out, deviceSite{uint32(d), v - 1})
		}
	}
	for d, site := range s.sparse {
		out = append(out, deviceSite{d, site})
	}
	slices.SortFunc(out, func(a, b deviceSite) int { return int(int64(a.device) - int64(b.device)) })
	return out
}

// bytes is the approximate memory the sites take; a map entry takes about
// twice its key and value.
func (s *deviceSites) bytes() int64 {
	return int64(cap(s.dense))*int64(unsafe.Sizeof(uint32(0))) + int64(len(s.sparse))*16
}
