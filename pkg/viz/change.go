package viz

import (
	"context"
	"encoding/json"
	"fmt"
)

// Action says what happened, or would happen, to one object.
type Action string

// Actions reported in Changes.
const (
	ActionConfigured Action = "configured"
	ActionUnchanged  Action = "unchanged"
	// ActionUpgraded: the Helm release got a new revision.
	ActionUpgraded Action = "upgraded"
	ActionCreated  Action = "created"
	ActionDeleted  Action = "deleted"
	ActionScaled   Action = "scaled"
	// ActionAbsent: the object does not exist; there was nothing to do.
	ActionAbsent Action = "absent"
	// ActionKept: deliberately left alone; Detail says why.
	ActionKept Action = "kept"
)

// Change is the outcome for one object.
type Change struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    Action `json:"action"`
	Detail    string `json:"detail,omitempty"`
	// Patch is the write as it would be sent (a JSON patch, merge patch, object or Helm
	// values); only plans carry it.
	Patch  string `json:"patch,omitempty"`
	DryRun bool   `json:"dryRun,omitempty"`
}

// Changes lists outcomes in the order they happen.
type Changes []Change

// Changed reports whether anything was (or would be) written.
func (cs Changes) Changed() bool {
	for _, c := range cs {
		switch c.Action {
		case ActionUnchanged, ActionAbsent, ActionKept:
		default:
			return true
		}
	}
	return false
}

// step is one planned write; run is nil when there is nothing to write. run may refine the
// change (e.g. the Helm revision it produced).
type step struct {
	change Change
	run    func(ctx context.Context, ch *Change) error
}

// plan returns the steps' changes marked as a dry run.
func planned(steps []step) Changes {
	out := make(Changes, 0, len(steps))
	for _, s := range steps {
		ch := s.change
		ch.DryRun = true
		out = append(out, ch)
	}
	return out
}

// execute runs the steps in order; on failure it returns what was done so far.
func execute(ctx context.Context, steps []step) (Changes, error) {
	out := make(Changes, 0, len(steps))
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
