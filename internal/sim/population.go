// Package sim makes realistic traffic for doorlog: a deterministic
// population of buildings and their door panels and lift controllers, a
// generator of the events such devices log (seed 001's BAS-IP keys and model
// fields, seed 000's cam_light states), and a runner that sends them to a
// server at a steady rate, batching and retrying like a well-behaved device
// gateway would.
package sim

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// Device is one simulated device: an intercom panel, door controller or lift
// controller of a site.
type Device struct {
	ID     string
	SiteID string
	Name   string
	Model  string
}

// The device models the simulation uses.
const (
	// ModelVideoPanel is a video intercom panel with a camera, a keypad and
	// a card and face reader.
	ModelVideoPanel = "BAS-IP AV-07T"
	// ModelAccessPanel is an access panel with a card and face reader.
	ModelAccessPanel = "BAS-IP AA-12FB"
	// ModelLiftController is a lift controller; it logs lift calls rather
	// than door events.
	ModelLiftController = "BAS-IP SH-45"
)

// namespace is the UUID namespace of simulated device ids, so that the same
// population always has the same ids.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/doorlog/doorlog/internal/sim"))

var buildingNames = []string{
	"Maple Court", "Harbour View", "Riverside House", "Oak Lodge",
	"Kings Wharf", "Cedar Gardens", "Station Point", "Willow Heights",
	"Granary Yard", "St Anne's Place", "Beacon Tower", "Linden Mews",
}

// placement is where on a site a device is, which decides its model and how
// busy it is.
type placement struct {
	name     string
	model    string
	activity float64
}

var placements = []placement{
	{"Main entrance", ModelVideoPanel, 3.0},
	{"Car park gate", ModelAccessPanel, 1.5},
	{"Lift hall", ModelLiftController, 1.2},
	{"Back door", ModelAccessPanel, 0.6},
	{"Courtyard gate", ModelVideoPanel, 0.8},
	{"Bike store", ModelAccessPanel, 0.5},
	{"Gym", ModelAccessPanel, 0.7},
	{"Service entrance", ModelAccessPanel, 0.4},
}

// Population returns sites demo-1 … demo-<sites>, each with devicesPerSite
// devices. It is deterministic: the same arguments always give the same
// sites, names and device ids.
func Population(sites, devicesPerSite int) ([]doorlog.Site, []Device) {
	outSites := make([]doorlog.Site, 0, max(sites, 0))
	outDevices := make([]Device, 0, max(sites*devicesPerSite, 0))
	for i := range max(sites, 0) {
		site := doorlog.Site{ID: fmt.Sprintf("demo-%d", i+1), Name: numbered(buildingNames, i)}
		outSites = append(outSites, site)
		for n := range max(devicesPerSite, 0) {
			p := placements[n%len(placements)]
			outDevices = append(outDevices, Device{
				ID:     uuid.NewSHA1(namespace, fmt.Appendf(nil, "%s/%d", site.ID, n+1)).String(),
				SiteID: site.ID,
				Name:   numbered(placementNames, n),
				Model:  p.model,
			})
		}
	}
	return outSites, outDevices
}

// numbered returns names[i], with " 2", " 3", … once the list has been used
// up, so names stay distinct however many are asked for.
func numbered(names []string, i int) string {
	name := names[i%len(names)]
	if round := i / len(names); round > 0 {
		name = fmt.Sprintf("%s %d", name, round+1)
	}
	return name
}

var placementNames = func() []string {
	names := make([]string, len(placements))
	for i, p := range placements {
		names[i] = p.name
	}
	return names
}()

// baseActivity is how busy a device is relative to an ordinary door: a main
// entrance sees more traffic than a bike store.
func baseActivity(d Device) float64 {
	for _, p := range placements {
		if strings.HasPrefix(d.Name, p.name) {
			return p.activity
		}
	}
	return 1
}

// isLift reports whether a device is a lift controller.
func isLift(d Device) bool {
	return d.Model == ModelLiftController || strings.Contains(strings.ToLower(d.Name), "lift")
}
