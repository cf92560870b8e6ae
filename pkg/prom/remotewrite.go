package prom

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// The remote-write queue metrics of Prometheus 3 (storage/remote/queue_manager.go and
// write.go). highest_timestamp_in_seconds has no remote_name/url label: it is the newest
// sample appended to the WAL, which every queue sends from.
const (
	MetricRWHighestSent      = "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"
	MetricRWHighestTimestamp = "prometheus_remote_storage_highest_timestamp_in_seconds"
	MetricRWShardsDesired    = "prometheus_remote_storage_shards_desired"
	MetricRWShardsMax        = "prometheus_remote_storage_shards_max"
	MetricRWPending          = "prometheus_remote_storage_samples_pending"
	MetricRWSent             = "prometheus_remote_storage_samples_total"
	MetricRWFailed           = "prometheus_remote_storage_samples_failed_total"
	MetricRWRetried          = "prometheus_remote_storage_samples_retried_total"
)

// RemoteWriteWindow is the window of the rates, the prometheus-mixin's
// PrometheusRemoteStorageFailures window.
const RemoteWriteWindow = "5m"

// RemoteQueue is what Prometheus' own metrics say about one remote-write queue.
type RemoteQueue struct {
	RemoteName, URL string
	// Reported says Prometheus exports the queue's highest-sent gauge: the queue runs.
	Reported bool
	// HighestSent is the newest sample timestamp the queue sent (0: never sent).
	HighestSent float64
	// HighestAppended is the newest sample timestamp Prometheus appended (its instance's
	// prometheus_remote_storage_highest_timestamp_in_seconds).
	HighestAppended float64
	// Rates per second over RemoteWriteWindow.
	SentRate, FailedRate, RetriedRate float64
	ShardsDesired, ShardsMax          float64
	// Pending is the samples waiting now; PendingMin the least over the window and
	// PendingDeriv its per-second slope over the window.
	Pending, PendingMin, PendingDeriv float64
}

// Lag is how far the queue is behind the newest appended sample, in seconds (the
// mixin's PrometheusRemoteWriteBehind expression).
func (q RemoteQueue) Lag() float64 {
	if q.HighestSent == 0 || q.HighestAppended == 0 {
		return 0
	}
	return max(q.HighestAppended-q.HighestSent, 0)
}

// FailureRatio is failed / (failed + sent) over the window; 0 when nothing was attempted.
func (q RemoteQueue) FailureRatio() float64 {
	if q.FailedRate+q.SentRate == 0 {
		return 0
	}
	return q.FailedRate / (q.FailedRate + q.SentRate)
}

// PendingBatch is Prometheus' default max_samples_per_send. A queue always holds some
// samples between sends (up to one batch, for up to batch_send_deadline); only a backlog
// that never fell below a full batch in the whole window says the shards cannot keep up.
const PendingBatch = 2000

// PendingGrowing says the queue never drained below one batch during the window and its
// backlog rises.
func (q RemoteQueue) PendingGrowing() bool {
	return q.PendingMin > PendingBatch && q.PendingDeriv > 0 && q.Pending > q.PendingMin
}

// RemoteWriteQueries are the PromQL queries RemoteQueues runs for the self-scrape
// selector sel, in order: the gauges, then the sent, failed and retried rates, then the
// pending minimum and slope.
func RemoteWriteQueries(sel string) []string {
	byQueue := func(f, m string) string {
		return fmt.Sprintf("sum by (remote_name, url) (%s(%s{%s}[%s]))", f, m, sel, RemoteWriteWindow)
	}
	gauges := strings.Join([]string{MetricRWHighestSent, MetricRWHighestTimestamp, MetricRWShardsDesired, MetricRWShardsMax, MetricRWPending}, "|")
	return []string{
		fmt.Sprintf(`{__name__=~%q,%s}`, gauges, sel),
		byQueue("rate", MetricRWSent),
		byQueue("rate", MetricRWFailed),
		byQueue("rate", MetricRWRetried),
		byQueue("min_over_time", MetricRWPending),
		byQueue("deriv", MetricRWPending),
	}
}

// RemoteQueues reads every remote-write queue's figures from the self-scrape selector sel
// (label matchers without braces), sorted by remote_name and url. Several Prometheus
// instances (replicas) add up per queue, except the timestamps, which take the oldest
// sent and the newest appended.
func (c *Client) RemoteQueues(ctx context.Context, sel string) ([]RemoteQueue, error) {
	qs := RemoteWriteQueries(sel)
	var vecs []model.Vector
	for _, q := range qs {
		v, _, err := c.QueryVector(ctx, q, time.Time{})
		if err != nil {
			return nil, err
		}
		vecs = append(vecs, v)
	}
	return remoteQueues(vecs), nil
}

func remoteQueues(vecs []model.Vector) []RemoteQueue {
	type key struct{ name, url string }
	byKey := map[key]*RemoteQueue{}
	get := func(m model.Metric) *RemoteQueue {
		k := key{string(m["remote_name"]), string(m["url"])}
		q := byKey[k]
		if q == nil {
			q = &RemoteQueue{RemoteName: k.name, URL: k.url, HighestSent: -1}
			byKey[k] = q
		}
		return q
	}
	appended := 0.0
	for _, s := range vecs[0] {
		v := float64(s.Value)
		if string(s.Metric[model.MetricNameLabel]) == MetricRWHighestTimestamp {
			appended = max(appended, v)
			continue
		}
		q := get(s.Metric)
		switch string(s.Metric[model.MetricNameLabel]) {
		case MetricRWHighestSent:
			q.Reported = true
			if q.HighestSent < 0 || v < q.HighestSent {
				q.HighestSent = v
			}
		case MetricRWShardsDesired:
			q.ShardsDesired += v
		case MetricRWShardsMax:
			q.ShardsMax += v
		case MetricRWPending:
			q.Pending += v
		}
	}
	fields := []func(*RemoteQueue) *float64{
		func(q *RemoteQueue) *float64 { return &q.SentRate },
		func(q *RemoteQueue) *float64 { return &q.FailedRate },
		func(q *RemoteQueue) *float64 { return &q.RetriedRate },
		func(q *RemoteQueue) *float64 { return &q.PendingMin },
		func(q *RemoteQueue) *float64 { return &q.PendingDeriv },
	}
	for i, f := range fields {
		for _, s := range vecs[i+1] {
			*f(get(s.Metric)) += float64(s.Value)
		}
	}
	out := make([]RemoteQueue, 0, len(byKey))
	for _, q := range byKey {
		q.HighestSent = max(q.HighestSent, 0)
		q.HighestAppended = appended
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b RemoteQueue) int {
		if c := strings.Compare(a.RemoteName, b.RemoteName); c != 0 {
			return c
		}
		return strings.Compare(a.URL, b.URL)
	})
	return out
}

// RemoteWriteFailure is the last failure of a queue that Prometheus logged.
type RemoteWriteFailure struct {
	// Status is the HTTP status the receiver answered (0: none, e.g. connection refused).
	Status int
	// Err is the logged error, shortened.
	Err string
}

// httpStatusInLog is how Prometheus' remote-write client words a non-2xx answer.
var httpStatusInLog = regexp.MustCompile(`server returned HTTP status (\d{3})`)

// logErrValue finds a logfmt err="..." (or err=...) value.
var logErrValue = regexp.MustCompile(`\berr="((?:[^"\\]|\\.)*)"|\berr=(\S+)`)

// maxLoggedErr bounds the error text quoted from the log.
const maxLoggedErr = 200

// LastRemoteWriteFailure finds, in a Prometheus log (logfmt, as Prometheus 3 writes it),
// the last failure logged for the queue named name (remote_name) or, when name is "", for
// url. ok is false when the log has none.
func LastRemoteWriteFailure(log []byte, name, url string) (f RemoteWriteFailure, ok bool) {
	lines := strings.Split(string(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if !strings.Contains(l, "component=remote") || !logFieldIs(l, "remote_name", name) && !logFieldIs(l, "url", url) {
			continue
		}
		m := logErrValue.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		msg := m[1]
		if msg == "" {
			msg = m[2]
		} else if u, err := strconv.Unquote(`"` + msg + `"`); err == nil {
			msg = u
		}
		if len(msg) > maxLoggedErr {
			msg = msg[:maxLoggedErr] + "…"
		}
		f = RemoteWriteFailure{Err: msg}
		if s := httpStatusInLog.FindStringSubmatch(msg); s != nil {
			f.Status, _ = strconv.Atoi(s[1])
		}
		return f, true
	}
	return RemoteWriteFailure{}, false
}

func logFieldIs(line, field, value string) bool {
	if value == "" {
		return false
	}
	return strings.Contains(line, " "+field+"="+value+" ") || strings.HasSuffix(line, " "+field+"="+value) ||
		strings.Contains(line, " "+field+"="+strconv.Quote(value))
}

// StoreFreshnessQuery is the query meshmon asks a store's Prometheus-compatible API:
// the newest sample timestamp of the `up` series of the Linkerd scrape jobs (one per
// target, so cheap on any store, and kept by remote-write's default --keep linkerd) with
// the cluster label. It is plain PromQL that VictoriaMetrics, Thanos Query and
// Mimir/Cortex all answer.
func StoreFreshnessQuery(clusterLabel, cluster string) string {
	return fmt.Sprintf(`max(timestamp(up{job=~"linkerd-.+",%s=%q}))`, clusterLabel, cluster)
}

// NewestSample asks the store for StoreFreshnessQuery; found is false when no series
// matches within the store's lookback.
func (c *Client) NewestSample(ctx context.Context, clusterLabel, cluster string) (at time.Time, found bool, err error) {
	v, found, err := c.ScalarQuery(ctx, StoreFreshnessQuery(clusterLabel, cluster), time.Time{})
	if err != nil || !found {
		return time.Time{}, found, err
	}
	return time.Unix(0, int64(v*float64(time.Second))), true, nil
}
