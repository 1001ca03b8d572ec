//go:build !race

package window

// raceDetector tells the long randomized tests to do less under the race
// detector, which slows them down tenfold.
const raceDetector = false
