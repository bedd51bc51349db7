// Command gendict builds a dictionary for package codec from realistic
// models and reports how well each candidate compresses.
//
//	go run ./internal/codec/gendict                # report only
//	go run ./internal/codec/gendict -o dict_v2.bin # write the pick
//
// It trains on the models of the simulator (the bench's mix of keys, from
// its own seed) and on models with every field of every catalog key, builds
// candidates of several sizes (klauspost/compress/dict's S2 builder and its
// raw-content builder), each ending with the models the simulator sends
// most often verbatim (a lock number, a camera light) so that those cost a
// two-byte copy, and measures each on models from other seeds. It picks the
// smallest candidate whose score (average stored bytes, the simulator's
// models weighing nine to one against the catalog's) is within 2 % of the
// best.
//
// The builders are not deterministic, so a run never reproduces a shipped
// dictionary; it does not need to. A shipped dictionary never changes
// (codec.TestDictionaryPinned): write a new version's file and give it a
// new format tag in package codec.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/s2"

	"github.com/doorlog/doorlog/internal/codec/internal/s2dict"
	"github.com/doorlog/doorlog/internal/codec/internal/samples"
)

// Seeds: training and evaluation models come from different runs of the
// simulator, and codec's tests measure with a third (seed 1), so no
// measurement is made on the models a dictionary was built from.
const (
	trainSeed = 42
	evalSeed  = 2
)

// tolerance is how much worse than the best candidate's score a smaller
// one may be and still be picked.
const tolerance = 1.02

// tries is how many times each builder is run per size.
const tries = 3

// score is what the pick minimizes: the average stored bytes per model,
// weighing the simulator's models (the bench's traffic) nine to one against
// the catalog's (keys the simulator never sends, which real devices do).
func score(sim, cat float64) float64 {
	return 0.9*sim + 0.1*cat
}

// build returns a candidate dictionary of kind "s2" (dict.BuildS2Dict) or
// "raw" (dict.BuildRawDict, with the repeat index at the last occurrence of
// start), with tail appended to its content.
func build(kind string, train [][]byte, opts dict.Options, tail, start []byte) ([]byte, error) {
	if kind == "s2" {
		d, err := dict.BuildS2Dict(train, opts)
		if err != nil {
			return nil, err
		}
		return appendTail(d, tail), nil
	}
	raw, err := dict.BuildRawDict(train, opts)
	if err != nil {
		return nil, err
	}
	d := s2.MakeDict(append(raw, tail...), start)
	if d == nil {
		return nil, fmt.Errorf("raw dictionary of %d bytes is too small or too big", len(raw)+len(tail))
	}
	return d.Bytes(), nil
}

// Hot tail: models that make up at least hotShare of the simulator's events
// go verbatim at the end of the dictionary, the most frequent last (the
// nearest, so a two-byte copy reaches it), up to hotBytes in all.
const (
	hotShare = 0.002
	hotBytes = 512
)

func main() {
	log.SetFlags(0)
	out := flag.String("o", "", "write the picked dictionary to this `file` (default: report only)")
	events := flag.Int("events", 100_000, "simulator events to train on")
	flag.Parse()

	sim := samples.Sim(trainSeed, *events)
	cat, err := samples.Catalog(trainSeed, 20)
	if err != nil {
		log.Fatal(err)
	}
	train := dedup(append(slices.Clone(sim), cat...))
	tail := hotTail(sim)
	evalSim := samples.Sim(evalSeed, 20_000)
	evalCat, err := samples.Catalog(evalSeed, 5)
	if err != nil {
		log.Fatal(err)
	}
	// The start most models share, for the raw builder's repeat index.
	start := commonStart(sim)
	log.Printf("training on %d distinct models (%d simulated events, %d catalog models); hot tail %d bytes: %s",
		len(train), len(sim), len(cat), len(tail), tail)

	type candidate struct {
		name       string
		dict       []byte
		sim, cat   float64
		inSim      float64
		scoreValue float64
	}
	var cands []candidate
	fmt.Printf("%-16s %7s %18s %8s %18s %7s\n", "builder", "dict B", "sim model -> B", "ratio", "catalog -> B", "score")
	for _, size := range []int{2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10} {
		for _, hashBytes := range []int{6, 8} {
			opts := dict.Options{MaxDictSize: size - len(tail), HashBytes: hashBytes}
			for _, kind := range []string{"s2", "raw"} {
				// The builders are randomized: keep the best of a few.
				var best *candidate
				for range tries {
					d, err := build(kind, train, opts, tail, start)
					if err != nil {
						log.Printf("%s %d/%d: %v", kind, size, hashBytes, err)
						break
					}
					c := candidate{name: fmt.Sprintf("%s %dK h%d", kind, size>>10, hashBytes), dict: d}
					c.sim, c.inSim = measure(d, evalSim)
					c.cat, _ = measure(d, evalCat)
					c.scoreValue = score(c.sim, c.cat)
					if best == nil || c.scoreValue < best.scoreValue {
						best = &c
					}
				}
				if best == nil {
					continue
				}
				c := *best
				fmt.Printf("%-16s %7d %8.1f -> %6.2f %8.3f %8.1f -> %6.2f %7.2f\n",
					c.name, len(c.dict), c.inSim, c.sim, c.sim/c.inSim, avgLen(evalCat), c.cat, c.scoreValue)
				cands = append(cands, c)
			}
		}
	}
	if len(cands) == 0 {
		log.Fatal("no candidate dictionary")
	}
	best := slices.MinFunc(cands, func(a, b candidate) int { return cmpFloat(a.scoreValue, b.scoreValue) })
	pick := best
	for _, c := range cands {
		if c.scoreValue <= best.scoreValue*tolerance && len(c.dict) < len(pick.dict) {
			pick = c
		}
	}
	fmt.Printf("best %s (score %.2f); picked %s: %d bytes, %.2f B per simulated model (%.1f B), %.2f B per catalog model (%.1f B)\n",
		best.name, best.scoreValue, pick.name, len(pick.dict), pick.sim, pick.inSim, pick.cat, avgLen(evalCat))
	if *out != "" {
		if err := os.WriteFile(*out, pick.dict, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("wrote %s\n", *out)
	}
}

// measure returns the average stored size of models with dictionary d, as
// package codec stores them (a tag byte and the S2 block, or the model as is
// when that is not smaller), and their average size. It checks that every
// model decodes back.
func measure(d []byte, models [][]byte) (stored, in float64) {
	enc, err := s2dict.NewEncoder(d)
	if err != nil {
		log.Fatal(err)
	}
	dec := s2.NewDict(d)
	var buf, back []byte
	var total, totalIn int
	for _, m := range models {
		buf = enc.Encode(buf[:0], m)
		back, err = dec.Decode(back[:cap(back)], buf)
		if err != nil || !bytes.Equal(back, m) {
			log.Fatalf("round trip of %s: got %q, %v", m, back, err)
		}
		total += min(1+len(buf), len(m))
		totalIn += len(m)
	}
	return float64(total) / float64(len(models)), float64(totalIn) / float64(len(models))
}

func avgLen(models [][]byte) float64 {
	n := 0
	for _, m := range models {
		n += len(m)
	}
	return float64(n) / float64(len(models))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dedup returns models without repeats, in first-seen order: the builders
// want distinct samples.
func dedup(models [][]byte) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	for _, m := range models {
		if !seen[string(m)] {
			seen[string(m)] = true
			out = append(out, m)
		}
	}
	return out
}

// hotTail returns the models that make up at least hotShare of models,
// concatenated with the most frequent last, up to hotBytes.
func hotTail(models [][]byte) []byte {
	count := map[string]int{}
	for _, m := range models {
		count[string(m)]++
	}
	var hot []string
	for m, n := range count {
		if float64(n) >= hotShare*float64(len(models)) {
			hot = append(hot, m)
		}
	}
	// Most frequent first, ties by content, so the tail is the same for
	// the same models.
	slices.SortFunc(hot, func(a, b string) int {
		if count[a] != count[b] {
			return count[b] - count[a]
		}
		return strings.Compare(a, b)
	})
	var tail []byte
	for _, m := range hot {
		if len(tail)+len(m) > hotBytes {
			break
		}
		tail = append([]byte(m), tail...)
	}
	return tail
}

// appendTail returns the serialized s2 dictionary d with tail appended to
// its content; the repeat index stays where the builder put it.
func appendTail(d, tail []byte) []byte {
	r, n := binary.Uvarint(d)
	out := binary.AppendUvarint(nil, r)
	out = append(out, d[n:]...)
	return append(out, tail...)
}

// commonStart returns the longest prefix, of up to 32 bytes, that at least
// a quarter of the models start with.
func commonStart(models [][]byte) []byte {
	var best []byte
	for n := 1; n <= 32; n++ {
		count := map[string]int{}
		for _, m := range models {
			if len(m) >= n {
				count[string(m[:n])]++
			}
		}
		var top string
		for p, c := range count {
			if 4*c >= len(models) && (top == "" || c > count[top] || c == count[top] && p < top) {
				top = p
			}
		}
		if top == "" {
			break
		}
		best = []byte(top)
	}
	return best
}
