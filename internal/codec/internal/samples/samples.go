// Package samples makes the realistic event models that the codec's
// dictionary is trained on and that its tests and benchmarks measure with.
// It lives apart from the codec so that the dictionary generator and the
// tests see exactly the same models, and the codec itself depends on
// neither the simulator nor the catalog.
package samples

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/sim"
)

// Bench population, as doorlog bench uses it (bench.DefaultSites and
// bench.DefaultDevicesPerSite), so the models have the bench's mix of door
// panels and lift controllers.
const (
	benchSites          = 20
	benchDevicesPerSite = 25
)

// Sim returns the models of n events the simulator generates with seed for
// the bench population, in the order it generates them. The same arguments
// always give the same models.
func Sim(seed int64, n int) [][]byte {
	_, devices := sim.Population(benchSites, benchDevicesPerSite)
	g := sim.NewGenerator(seed, devices)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, 0, n)
	for i := range n {
		out = append(out, []byte(g.Next(start.Add(time.Duration(i)*time.Second)).Model))
	}
	return out
}

// Catalog returns perKey models for every key of the catalog, each with all
// the fields its key's model defines (nested for dotted paths) and
// plausible values, so that keys the simulator never sends still have their
// field names in the dictionary. The same arguments always give the same
// models.
func Catalog(seed int64, perKey int) ([][]byte, error) {
	cat, err := catalog.New()
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x73616d706c6573))
	var out [][]byte
	for _, key := range cat.Keys() {
		fields := cat.Entry(key).Fields
		for range perKey {
			model := map[string]any{}
			for _, path := range fields {
				set(model, strings.Split(path, "."), value(rng, path, fields))
			}
			raw, err := json.Marshal(model)
			if err != nil {
				return nil, fmt.Errorf("samples: model of %s: %w", key, err)
			}
			out = append(out, raw)
		}
	}
	return out, nil
}

// set puts v at the dotted path in m, making the objects on the way.
func set(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

var names = []string{
	"Emma Smith", "Oliver Jones", "Amelia Taylor", "George Brown", "Priya Patel",
	"Mateusz Nowak", "Zofia Kowalski", "Aisha Khan", "Ravi Singh", "Olena Kovalenko",
	"Anna Kowalska", "John Doe", "Noah O'Connor", "Grace Hughes", "Daniel Murphy",
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func name(rng *rand.Rand) string { return pick(rng, names...) }

func flat(rng *rand.Rand) string { return fmt.Sprintf("Flat %d", 1+rng.IntN(60)) }

func idNumber(rng *rand.Rand) string {
	switch rng.IntN(4) {
	case 0:
		return fmt.Sprintf("%07d", rng.IntN(10_000_000))
	case 1:
		return fmt.Sprintf("%d", 1+rng.IntN(5000))
	case 2:
		return fmt.Sprintf("%c%03d%c%c", 'A'+rng.IntN(26), rng.IntN(1000), 'A'+rng.IntN(26), 'A'+rng.IntN(26))
	default:
		return fmt.Sprintf("%d", 1_000_000+rng.IntN(15_000_000))
	}
}

func idType(rng *rand.Rand) string {
	return pick(rng, "card", "card", "ukey", "face_id", "qr", "input_code", "license_plate")
}

// value returns a plausible value for the field at path of a model with
// fields.
func value(rng *rand.Rand, path string, fields []string) any {
	last := path[strings.LastIndexByte(path, '.')+1:]
	switch last {
	case "number":
		for _, f := range fields {
			if f == "answered" {
				return pick(rng, "9000", fmt.Sprintf("%d", 1+rng.IntN(60)))
			}
		}
		return 1_000_000 + rng.IntN(15_000_000)
	case "type":
		return pick(rng, "card", "card", "ukey", "face_id")
	case "owner", "name":
		return name(rng)
	case "apartment_address":
		return flat(rng)
	case "lock", "lock_number":
		return pick(rng, 1, 1, 1, 2)
	case "link_id":
		if rng.IntN(2) == 0 {
			return nil
		}
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Uint64()>>16)
	case "code":
		return fmt.Sprintf("%04d", rng.IntN(10000))
	case "card":
		return fmt.Sprintf("%010d", rng.Int64N(1<<32))
	case "qr":
		return fmt.Sprintf("%d", rng.IntN(100000))
	case "identifier_number":
		return idNumber(rng)
	case "identifier_type":
		return idType(rng)
	case "requestor":
		return pick(rng, "link_app", "web_ui", "api", "link_server", "link_guest_url")
	case "host":
		return fmt.Sprintf("%d", 1+rng.IntN(60))
	case "answered":
		return rng.IntN(3) > 0
	case "status":
		return pick(rng, "ok", "checking", "downloading", "backuping", "installing", "finishing", "error")
	case "account_type":
		return pick(rng, "admin", "manager")
	case "state":
		return pick(rng, "on", "off")
	case "lock_opened_time":
		return pick(rng, 30, 60, 120)
	case "short_name":
		if strings.Contains(path, "lift") {
			return fmt.Sprintf("Lift %c", 'A'+rng.IntN(3))
		}
		return fmt.Sprintf("%d", 1+rng.IntN(15))
	case "id":
		return 1 + rng.IntN(15)
	case "message":
		return pick(rng, "Lift controller is not responding", "Destination floor is not available",
			"Lift is out of service", "Cannot connect to the lift module")
	case "used_identifiers_list":
		list := make([]map[string]any, 1+rng.IntN(2))
		for i := range list {
			id := map[string]any{"identifier_number": idNumber(rng), "auth_type": idType(rng)}
			if rng.IntN(2) == 0 {
				id["user_name"] = name(rng)
			}
			list[i] = id
		}
		return list
	case "users_list":
		return []map[string]any{{"user_name": name(rng)}}
	case "apartments_list":
		return []string{flat(rng)}
	case "reject_reasons":
		if rng.IntN(2) == 0 {
			return []any{}
		}
		return []map[string]any{{"not_enough_identifiers_for_current_authentication_type": []string{idType(rng)}}}
	default:
		return fmt.Sprintf("%d", rng.IntN(1000))
	}
}
