package sources_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/vigilhq/vigil/event"
	"github.com/vigilhq/vigil/sources"
)

// A consumer loop: read records, process them, mark them done once their
// results are durably written. Offsets are committed behind the loop, only
// up to the lowest record not yet done. (Not run: it needs a broker.)
func ExampleKafka() {
	src, err := sources.NewKafka(sources.KafkaConfig{
		Brokers:         []string{"localhost:9092"},
		Topic:           "payments",
		GroupID:         "vigil",
		DeadLetterTopic: "payments.dead-letter",
		Decoder:         event.Decoder{TimeField: "ts", IDField: "id"},
		OnAssign:        func(ps []int) { log.Printf("now reading partitions %v", ps) },
		OnRevoke:        func(ps []int) { log.Printf("no longer reading partitions %v", ps) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := src.Close(ctx); err != nil { // commits what is done
			log.Print(err)
		}
	}()

	ctx := context.Background()
	for {
		recs, err := src.Read(ctx)
		if errors.Is(err, sources.ErrClosed) || errors.Is(err, context.Canceled) {
			return
		}
		if err != nil {
			log.Print(err) // e.g. the dead-letter topic is down: retry
			time.Sleep(time.Second)
			continue
		}
		for _, r := range recs {
			if r.Event.Time < 0 {
				// Rejected by the caller (the engine says why): park it.
				if err := src.DeadLetter(ctx, r, event.ReasonLate, errors.New("below the watermark")); err != nil {
					log.Print(err)
				}
				continue
			}
			// ... hand r.Event to the engine; once its alerts are written:
			src.Done(r)
		}
	}
}
