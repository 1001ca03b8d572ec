package progress_test

import (
	"os"

	"github.com/vigilhq/vigil/internal/progress"
)

// A long loop with a bar on a terminal; here, stdout is not one, so the
// bar writes one summary line when it finishes.
func Example() {
	bar := progress.New(os.Stdout, "gen", progress.Items, 1000, progress.Options{})
	for i := 0; i <= 1000; i += 100 {
		bar.Set(int64(i))
	}
	bar.Finish() // "gen: 1000 events in 0s (… events/s)": timing varies, so no Output here
}
