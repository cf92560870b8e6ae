package prom

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Evidence tells whether Prometheus' data survived a restart of its process.
type Evidence struct {
	// ProcessStart is when the running Prometheus process started.
	ProcessStart time.Time
	// OldestSample is the oldest `up` sample the probe saw before ProcessStart (zero if none).
	// Older samples may exist up to one probe step earlier, or beyond the retention window.
	OldestSample time.Time
	// Proven is true when samples written before ProcessStart are still queryable, which means
	// the data directory outlived the previous process (it is on a persistent volume that
	// was kept). It says nothing about data older than the retention window.
	Proven bool
	// Method names where ProcessStart came from and how the samples were looked for.
	Method string
	// Reason explains the verdict in words fit for check output.
	Reason string
}

const (
	// persistenceProbeExpr evaluates to the timestamp of the oldest latest-`up`-sample at each step.
	// `up` is written by this Prometheus for every scrape target at scrape time and never carries a
	// source timestamp (unlike federated samples with honor_timestamps), so an `up` sample older
	// than the process start can only come from an earlier process. It exists without a
	// self-scrape job, as long as anything is scraped.
	persistenceProbeExpr = "min(timestamp(up))"
	persistenceSteps     = 250
	// Prometheus' own default when no time retention is set.
	defaultRetention = 15 * 24 * time.Hour
	// Window probed when only size-based retention is set (time is then unlimited).
	unlimitedRetentionWindow = 365 * 24 * time.Hour
)

// Persistence proves (or fails to prove) that the TSDB keeps samples from before the current
// Prometheus process started.
//
// The process start comes from /api/v1/status/runtimeinfo (authoritative); only if that fails
// with an answer from Prometheus is it read from process_start_time_seconds of a self-scrape.
// The samples are looked for with one range query of min(timestamp(up)) ending 1ms before the
// process start and reaching back over the retention window in at most 250 steps: cheap (one
// series, few points) and exact about what it proves, because every value it returns is the
// timestamp of a real `up` sample older than the process start.
//
// TSDB status (/api/v1/status/tsdb headStats.minTime) is not used: it covers only the head
// block (the last 2–3 hours; persisted blocks are ignored), compaction after a long downtime can
// move it past the start, and on a fresh TSDB federated samples that keep their source
// timestamps can put it before the start. prometheus_tsdb_lowest_timestamp_seconds needs a
// self-scrape job that meshmon's Prometheus may not have.
//
// Limits: a previous run shorter than one step that also ended more than the lookback delta
// (5m by default) before the start can be missed; OldestSample is precise to one step.
func (c *Client) Persistence(ctx context.Context) (Evidence, error) {
	start, retention, startMethod, err := c.processStart(ctx)
	if err != nil {
		return Evidence{}, err
	}
	ev := Evidence{ProcessStart: start}

	end := start.Truncate(time.Millisecond).Add(-time.Millisecond)
	step := (retention / persistenceSteps).Round(time.Second)
	if step < time.Second {
		step = time.Second
	}
	n := int64(math.Ceil(float64(retention) / float64(step)))
	from := end.Add(-time.Duration(n) * step)
	ev.Method = fmt.Sprintf("process start from %s; range query %s over %s before it (step %s)",
		startMethod, persistenceProbeExpr, model.Duration(retention), model.Duration(step))

	m, _, err := c.QueryRange(ctx, persistenceProbeExpr, from, end, step)
	if err != nil {
		return Evidence{}, err
	}
	oldest := math.Inf(1)
	for _, s := range m {
		for _, p := range s.Values {
			if v := float64(p.Value); v < oldest {
				oldest = v
			}
		}
	}
	if math.IsInf(oldest, 1) {
		ev.Reason = fmt.Sprintf("no `up` sample older than the process start (%s) within %s: either this is the first run on this data directory, or the data did not survive the restart (emptyDir, or a new volume)",
			start.UTC().Format(time.RFC3339), model.Duration(retention))
		return ev, nil
	}
	ev.OldestSample = time.UnixMilli(int64(math.Round(oldest * 1000))).UTC()
	ev.Proven = true
	ev.Reason = fmt.Sprintf("samples from %s, written before this process started at %s, are still queryable: the data directory survived the restart",
		ev.OldestSample.Format(time.RFC3339), start.UTC().Format(time.RFC3339))
	return ev, nil
}

// processStart returns when the Prometheus process started, the time window to probe and
// the source of the start time.
func (c *Client) processStart(ctx context.Context) (time.Time, time.Duration, string, error) {
	ri, err := c.RuntimeInfo(ctx)
	if err == nil && !ri.StartTime.IsZero() {
		return ri.StartTime, retentionWindow(ri.StorageRetention), "runtimeinfo startTime", nil
	}
	if err != nil && (KindOf(err) == KindUnreachable || KindOf(err) == KindTimeout) {
		return time.Time{}, 0, "", err
	}
	// Pairing with prometheus_build_info keeps only Prometheus servers among all processes.
	const q = "process_start_time_seconds and on (job, instance) prometheus_build_info"
	vec, _, qerr := c.QueryVector(ctx, q, time.Time{})
	if qerr != nil {
		return time.Time{}, 0, "", fmt.Errorf("finding when Prometheus at %s started: runtimeinfo: %v; fallback: %w", c.base, err, qerr)
	}
	if len(vec) != 1 {
		return time.Time{}, 0, "", fmt.Errorf("finding when Prometheus at %s started: runtimeinfo: %v; fallback %q returned %d series, want exactly one (does Prometheus scrape itself?)", c.base, err, q, len(vec))
	}
	sec := float64(vec[0].Value)
	return time.UnixMilli(int64(math.Round(sec * 1000))).UTC(), defaultRetention, "process_start_time_seconds", nil
}

// retentionWindow turns runtimeinfo's storageRetention ("15d", "10GiB", "15d or 10GiB") into
// the time span worth probing.
func retentionWindow(s string) time.Duration {
	if strings.TrimSpace(s) == "" {
		return defaultRetention
	}
	for _, part := range strings.Split(s, " or ") {
		if d, err := model.ParseDuration(strings.TrimSpace(part)); err == nil && d > 0 {
			return time.Duration(d)
		}
	}
	return unlimitedRetentionWindow
}
