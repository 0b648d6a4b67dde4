package replay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// BenchResult compares a replay with a raw read of the same records.
type BenchResult struct {
	// Records is the number of records each pass read.
	Records int64 `json:"records"`
	Carts   int   `json:"carts"`
	Workers int   `json:"workers"`
	Rounds  int   `json:"rounds"`
	// Raw and Replay are the best times over the rounds.
	Raw    time.Duration `json:"raw_ns"`
	Replay time.Duration `json:"replay_ns"`
	// RawRate and ReplayRate are records per second; Ratio is
	// ReplayRate / RawRate.
	RawRate    float64 `json:"raw_events_per_second"`
	ReplayRate float64 `json:"replay_events_per_second"`
	Ratio      float64 `json:"ratio"`
}

func (b BenchResult) String() string {
	return fmt.Sprintf("%d records, %d carts, %d workers, best of %d: raw read_committed read %.0f events/s (%s), replay %.0f events/s (%s), ratio %.2f",
		b.Records, b.Carts, b.Workers, b.Rounds, b.RawRate, b.Raw.Round(time.Millisecond), b.ReplayRate, b.Replay.Round(time.Millisecond), b.Ratio)
}

// Bench measures replay throughput against a raw read_committed read of the
// same span of cart.validated (records polled and counted, not decoded),
// alternating the two rounds times and keeping each one's best. Both use
// the same consumer configuration and the same end offsets, listed once.
func Bench(ctx context.Context, cfg Config, scope Scope, rounds int) (BenchResult, error) {
	if err := errors.Join(cfg.Validate(), scope.Validate()); err != nil {
		return BenchResult{}, err
	}
	if rounds <= 0 {
		rounds = 2
	}
	cfg = cfg.withDefaults()
	cfg.Progress = nil
	adm, err := kafka.NewAdminClient(cfg.clientConfig(nil))
	if err != nil {
		return BenchResult{}, fmt.Errorf("replay: admin client: %w", err)
	}
	defer adm.Close()
	_, parts, err := scopePartitions(ctx, adm, cfg, scope)
	if err != nil {
		return BenchResult{}, err
	}
	ss, err := spans(ctx, adm, cfg.RequestTimeout, cfg.Topics.Validated, parts, scope)
	if err != nil {
		return BenchResult{}, fmt.Errorf("replay: %w", err)
	}
	out := BenchResult{Workers: cfg.Workers, Rounds: rounds}
	for range rounds {
		raw := &reader{cfg: cfg, topic: cfg.Topics.Validated, skip: func(*kafka.Message) bool { return true }, work: func(int, []*kafka.Message) {}}
		st, err := raw.run(ctx, ss)
		if err != nil {
			return out, fmt.Errorf("replay: raw read: %w", err)
		}
		if out.Raw == 0 || st.Elapsed < out.Raw {
			out.Raw = st.Elapsed
		}
		out.Records = st.Records
		res, err := foldSpans(ctx, cfg, scope.Cart, ss)
		if err != nil {
			return out, err
		}
		if res.Stats.Records != st.Records {
			return out, fmt.Errorf("replay: bench read %d records raw but %d in the replay", st.Records, res.Stats.Records)
		}
		if out.Replay == 0 || res.Stats.Elapsed < out.Replay {
			out.Replay = res.Stats.Elapsed
		}
		out.Carts = len(res.Carts)
	}
	out.RawRate = float64(out.Records) / out.Raw.Seconds()
	out.ReplayRate = float64(out.Records) / out.Replay.Seconds()
	out.Ratio = out.ReplayRate / out.RawRate
	return out, nil
}
