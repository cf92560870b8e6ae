package prom

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Alert is one of the prometheus-mixin's alerts on Prometheus itself, as an
// instant query over Prometheus' self-scrape. The mixin's `for` is left out:
// a check judges the moment it runs, and an operator who runs it wants to
// see a condition as soon as it holds, not after it has held for an hour.
type Alert struct {
	// Name is the mixin alert the expression follows, e.g. PrometheusRuleFailures.
	Name string
	// expr has %[1]s where the self-scrape selector goes.
	expr string
}

// The mixin alerts meshmon checks. Thresholds and windows are the mixin's.
var (
	AlertBadConfig = Alert{"PrometheusBadConfig",
		`max_over_time(prometheus_config_last_reload_successful{%[1]s}[5m]) == 0`}
	AlertTSDBReloadsFailing = Alert{"PrometheusTSDBReloadsFailing",
		`increase(prometheus_tsdb_reloads_failures_total{%[1]s}[3h]) > 0`}
	AlertTSDBCompactionsFailing = Alert{"PrometheusTSDBCompactionsFailing",
		`increase(prometheus_tsdb_compactions_failed_total{%[1]s}[3h]) > 0`}
	// AlertWALCorruptions has no mixin counterpart: a corruption found at
	// start-up is repaired by dropping everything after it, so any count
	// since the process started means lost samples.
	AlertWALCorruptions = Alert{"",
		`prometheus_tsdb_wal_corruptions_total{%[1]s} > 0`}
	// AlertNotIngestingSamples sums over the `type` label Prometheus 3 puts
	// on the counter (float, histogram): a server that ingests only floats
	// is ingesting.
	// The mixin holds this alert for 10m; without that, a Prometheus started a few
	// seconds ago (no two self-scrapes yet) would count as not ingesting, so it is judged
	// only once the process has run for the whole 5m window.
	AlertNotIngestingSamples = Alert{"PrometheusNotIngestingSamples",
		`(sum without (type) (rate(prometheus_tsdb_head_samples_appended_total{%[1]s}[5m])) <= 0
		and (sum without (scrape_job) (prometheus_target_metadata_cache_entries{%[1]s}) > 0
		or sum without (rule_group) (prometheus_rule_group_rules{%[1]s}) > 0))
		and on (job, instance) (time() - process_start_time_seconds{%[1]s} > 300)`}
	AlertRuleFailures = Alert{"PrometheusRuleFailures",
		`increase(prometheus_rule_evaluation_failures_total{%[1]s}[5m]) > 0`}
	AlertMissingRuleEvaluations = Alert{"PrometheusMissingRuleEvaluations",
		`increase(prometheus_rule_group_iterations_missed_total{%[1]s}[5m]) > 0`}
	AlertTargetSyncFailure = Alert{"PrometheusTargetSyncFailure",
		`increase(prometheus_target_sync_failed_total{%[1]s}[30m]) > 0`}
	AlertSDRefreshFailure = Alert{"PrometheusSDRefreshFailure",
		`increase(prometheus_sd_refresh_failures_total{%[1]s}[10m]) > 0`}
	AlertOutOfOrderTimestamps = Alert{"PrometheusOutOfOrderTimestamps",
		`rate(prometheus_target_scrapes_sample_out_of_order_total{%[1]s}[5m]) > 0`}
	AlertDuplicateTimestamps = Alert{"PrometheusDuplicateTimestamps",
		`rate(prometheus_target_scrapes_sample_duplicate_timestamp_total{%[1]s}[5m]) > 0`}
	AlertTargetLimitHit = Alert{"PrometheusTargetLimitHit",
		`increase(prometheus_target_scrape_pool_exceeded_target_limit_total{%[1]s}[5m]) > 0`}
	AlertLabelLimitHit = Alert{"PrometheusLabelLimitHit",
		`increase(prometheus_target_scrape_pool_exceeded_label_limits_total{%[1]s}[5m]) > 0`}
	AlertScrapeSampleLimitHit = Alert{"PrometheusScrapeSampleLimitHit",
		`increase(prometheus_target_scrapes_exceeded_sample_limit_total{%[1]s}[5m]) > 0`}
	AlertScrapeBodySizeLimitHit = Alert{"PrometheusScrapeBodySizeLimitHit",
		`increase(prometheus_target_scrapes_exceeded_body_size_limit_total{%[1]s}[5m]) > 0`}
)

// Expr is the alert's expression for the self-scrape series selector sel
// (label matchers without braces, e.g. job="prometheus").
func (a Alert) Expr(sel string) string { return fmt.Sprintf(a.expr, sel) }

// Firing is one series for which an alert's expression holds.
type Firing struct {
	Labels map[string]string
	Value  float64
}

// Describe renders the labels that tell firings apart (every label but
// job), then the value, e.g. `rule_group="/etc/rules.yml;linkerd": 3`.
func (f Firing) Describe() string {
	var parts []string
	for k, v := range f.Labels {
		if k != "job" && k != model.MetricNameLabel {
			parts = append(parts, fmt.Sprintf("%s=%q", k, v))
		}
	}
	slices.Sort(parts)
	return fmt.Sprintf("%s: %s", strings.Join(parts, ", "), formatValue(f.Value))
}

func formatValue(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// Firing evaluates a for the self-scrape selector sel and returns the series
// that fire, sorted; none means the alert would not fire now.
func (c *Client) Firing(ctx context.Context, a Alert, sel string) ([]Firing, error) {
	vec, _, err := c.QueryVector(ctx, a.Expr(sel), time.Time{})
	if err != nil {
		return nil, err
	}
	return firings(vec), nil
}

func firings(vec model.Vector) []Firing {
	out := make([]Firing, 0, len(vec))
	for _, s := range vec {
		l := make(map[string]string, len(s.Metric))
		for k, v := range s.Metric {
			l[string(k)] = string(v)
		}
		out = append(out, Firing{Labels: l, Value: float64(s.Value)})
	}
	slices.SortFunc(out, func(a, b Firing) int { return strings.Compare(a.Describe(), b.Describe()) })
	return out
}

// SelfScrape returns the `up` series of the self-scrape selector sel: empty
// when Prometheus does not scrape itself, so no check of this file can judge it.
func (c *Client) SelfScrape(ctx context.Context, sel string) ([]Firing, error) {
	vec, _, err := c.QueryVector(ctx, "up{"+sel+"}", time.Time{})
	if err != nil {
		return nil, err
	}
	return firings(vec), nil
}

// RuleGroups counts the rules Prometheus evaluates, from its self-scrape.
func (c *Client) RuleGroups(ctx context.Context, sel string) (groups int, rules float64, err error) {
	vec, _, err := c.QueryVector(ctx, "prometheus_rule_group_rules{"+sel+"}", time.Time{})
	if err != nil {
		return 0, 0, err
	}
	for _, s := range vec {
		rules += float64(s.Value)
	}
	return len(vec), rules, nil
}

// SeriesCount is the number of series of one metric name in the head block.
type SeriesCount struct {
	Name   string  `json:"name"`
	Series float64 `json:"series"`
}

// Cardinality is what /api/v1/status/tsdb and one count query say about where
// the head block's series come from.
type Cardinality struct {
	// HeadSeries is the number of series in the head block.
	HeadSeries float64
	// Top lists the metric names with the most series, most first.
	Top []SeriesCount
	// Buckets counts the series of classic histogram buckets (*_bucket) that
	// the bucket selector matches.
	Buckets float64
}

// Cardinality reads the top limit metrics by series and counts the histogram
// bucket series of bucketSel (label matchers without braces, ANDed with
// __name__=~".+_bucket").
func (c *Client) Cardinality(ctx context.Context, limit int, bucketSel string) (Cardinality, error) {
	tctx, cancel := c.withTimeout(ctx)
	defer cancel()
	r, err := c.api.TSDB(tctx, v1.WithLimit(uint64(max(limit, 1))))
	if err != nil {
		return Cardinality{}, c.wrap("GET /api/v1/status/tsdb", err)
	}
	out := Cardinality{HeadSeries: float64(r.HeadStats.NumSeries)}
	for _, s := range r.SeriesCountByMetricName {
		out.Top = append(out.Top, SeriesCount{Name: s.Name, Series: float64(s.Value)})
	}
	if len(out.Top) > limit {
		out.Top = out.Top[:limit]
	}
	sel := `__name__=~".+_bucket"`
	if bucketSel != "" {
		sel += "," + bucketSel
	}
	n, _, err := c.ScalarQuery(ctx, "count({"+sel+"})", time.Time{})
	if err != nil {
		return Cardinality{}, err
	}
	out.Buckets = n
	return out, nil
}
