package viz

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/meshmon/meshmon/pkg/change"
)

// step is one planned write; run is nil when there is nothing to write. run may refine the
// change (e.g. the Helm revision it produced).
type step struct {
	change change.Change
	run    func(ctx context.Context, ch *change.Change) error
}

// plan returns the steps' changes marked as a dry run.
func planned(steps []step) change.Changes {
	out := make(change.Changes, 0, len(steps))
	for _, s := range steps {
		ch := s.change
		ch.DryRun = true
		out = append(out, ch)
	}
	return out
}

// execute runs the steps in order; on failure it returns what was done so far.
func execute(ctx context.Context, steps []step) (change.Changes, error) {
	out := make(change.Changes, 0, len(steps))
	for _, s := range steps {
		ch := s.change
		ch.Patch = ""
		if s.run != nil {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			if err := s.run(ctx, &ch); err != nil {
				return out, err
			}
		}
		out = append(out, ch)
	}
	return out, nil
}

// jsonOp is one RFC 6902 operation.
type jsonOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func encodePatch(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding patch: %w", err)
	}
	return b, nil
}
