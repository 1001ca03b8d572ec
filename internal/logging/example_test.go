package logging_test

import (
	"log"
	"os"

	"github.com/vigilhq/vigil/internal/logging"
)

// A logger for a service: JSON when stderr is not a terminal, the keys
// every line shares.
func Example() {
	logger, err := logging.New(os.Stdout, logging.Options{Format: "json", Level: "info"})
	if err != nil {
		log.Fatal(err)
	}
	logger.Debug("not shown at the info level")
	logger.With(logging.KeyRule, "velocity").Info("rule loaded")
}
