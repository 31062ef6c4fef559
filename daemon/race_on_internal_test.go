//go:build race

package daemon

// raceDetector is true in a test binary built with -race, whose
// instrumentation allocates on its own: allocation counts are checked
// without it.
const raceDetector = true
