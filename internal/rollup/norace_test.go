//go:build !race

package rollup

// raceEnabled says whether the race detector is on: tests at 10 million
// events are too slow under it.
const raceEnabled = false
