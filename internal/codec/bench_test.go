package codec

import (
	"testing"
)

// benchModels are the simulator's models the benchmarks cycle through: the
// bench's mix of keys, from a seed the dictionary was not built from.
func benchModels(tb testing.TB) [][]byte {
	tb.Helper()
	return simModels(tb, 4096)
}

// BenchmarkEncode measures Encode on the simulator's models, with the
// average stored size per model size as stored-B/model-B.
func BenchmarkEncode(b *testing.B) {
	c := newCodec(b)
	models := benchModels(b)
	var in, out int
	for _, m := range models {
		in += len(m)
		out += len(c.Encode(nil, m))
	}
	dst := make([]byte, 0, 1<<10)
	b.SetBytes(int64(in / len(models)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		dst = c.Encode(dst[:0], models[i%len(models)])
	}
	b.ReportMetric(float64(out)/float64(in), "stored-B/model-B")
	b.ReportMetric(float64(out)/float64(len(models)), "stored-B/op")
}

// BenchmarkDecode measures Decode of the stored forms of the simulator's
// models.
func BenchmarkDecode(b *testing.B) {
	c := newCodec(b)
	models := benchModels(b)
	stored := make([][]byte, len(models))
	var in int
	for i, m := range models {
		stored[i] = c.Encode(nil, m)
		in += len(m)
	}
	dst := make([]byte, 0, 1<<10)
	b.SetBytes(int64(in / len(models)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		if dst, err = c.Decode(dst[:0], stored[i%len(stored)]); err != nil {
			b.Fatal(err)
		}
	}
}
