package codec

import (
	"testing"

	"github.com/doorlog/doorlog/internal/codec/internal/samples"
)

// testSeed seeds the simulator for tests and benchmarks. It differs from
// the seed the dictionary is trained with, so the measured ratio is that of
// models the dictionary has not seen.
const testSeed = 1

// newCodec returns a Codec or fails the test.
func newCodec(tb testing.TB) *Codec {
	tb.Helper()
	c, err := New()
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

// simModels returns n of the simulator's models, from testSeed.
func simModels(tb testing.TB, n int) [][]byte {
	tb.Helper()
	return samples.Sim(testSeed, n)
}
