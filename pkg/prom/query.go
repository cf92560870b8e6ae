package prom

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Query evaluates promql at the instant at (zero means now) and returns the result with
// Prometheus' warnings.
func (c *Client) Query(ctx context.Context, promql string, at time.Time) (model.Value, []string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	v, warnings, _, err := c.api.Query(ctx, promql, at)
	if err != nil {
		return nil, warnings, c.wrap(fmt.Sprintf("query %q", promql), err)
	}
	return v, warnings, nil
}

// QueryVector is Query for expressions that yield an instant vector.
func (c *Client) QueryVector(ctx context.Context, promql string, at time.Time) (model.Vector, []string, error) {
	v, warnings, err := c.Query(ctx, promql, at)
	if err != nil {
		return nil, warnings, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, warnings, c.unexpectedType(promql, "vector", v)
	}
	return vec, warnings, nil
}

// QueryRange evaluates promql at every step from start to end.
func (c *Client) QueryRange(ctx context.Context, promql string, start, end time.Time, step time.Duration) (model.Matrix, []string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	v, warnings, _, err := c.api.QueryRange(ctx, promql, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, warnings, c.wrap(fmt.Sprintf("range query %q", promql), err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, warnings, c.unexpectedType(promql, "matrix", v)
	}
	return m, warnings, nil
}

// ScalarQuery returns the value of the first sample of promql at the instant at.
// found is false when the expression returned no data, which is not the same as 0.
func (c *Client) ScalarQuery(ctx context.Context, promql string, at time.Time) (value float64, found bool, err error) {
	v, _, err := c.Query(ctx, promql, at)
	if err != nil {
		return 0, false, err
	}
	switch r := v.(type) {
	case model.Vector:
		if len(r) == 0 {
			return 0, false, nil
		}
		return float64(r[0].Value), true, nil
	case *model.Scalar:
		return float64(r.Value), true, nil
	}
	return 0, false, c.unexpectedType(promql, "vector or scalar", v)
}

func (c *Client) unexpectedType(promql, want string, v model.Value) error {
	got := "nothing"
	if v != nil {
		got = v.Type().String()
	}
	return &Error{URL: c.base.String(), Op: fmt.Sprintf("query %q", promql), Kind: KindBadResponse,
		Err: fmt.Errorf("result is a %s, want a %s", got, want)}
}
