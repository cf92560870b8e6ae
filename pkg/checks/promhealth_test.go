package checks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

// sampleTime is when the fake Prometheus says its samples were taken.
const sampleTime = 1763787600

// healthAnswers are the fake Prometheus' answers to the prometheus-health
// queries: the vector result of the longest key contained in the PromQL.
type healthAnswers struct {
	vectors map[string]string
	tsdb    string
	blocks  string
}

func vector(series ...map[string]any) string {
	var out []string
	for _, s := range series {
		labels := map[string]string{}
		var v float64
		for k, x := range s {
			if k == "value" {
				v = x.(float64)
				continue
			}
			labels[k] = x.(string)
		}
		b, _ := json.Marshal(labels)
		out = append(out, fmt.Sprintf(`{"metric":%s,"value":[%d,"%v"]}`, b, sampleTime, v))
	}
	return "[" + strings.Join(out, ",") + "]"
}

func self(name string, v float64, extra ...string) map[string]any {
	m := map[string]any{"__name__": name, "job": "prometheus", "instance": "localhost:9090", "value": v}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// figures are a healthy Prometheus' storage: 2000 samples/s at 1.5
// bytes/sample, 3.6 GiB for 15d, well within 18GB of retention size and the
// fixture's 50Gi volume.
func figures(blockBytes, wal, headSeries, retentionBytes float64) string {
	return vector(
		self("prometheus_tsdb_blocks_loaded", 3),
		self("prometheus_tsdb_storage_blocks_bytes", blockBytes),
		self("prometheus_tsdb_wal_storage_size_bytes", wal),
		self("prometheus_tsdb_head_chunks_storage_size_bytes", 20<<20),
		self("prometheus_tsdb_head_series", headSeries),
		self("prometheus_tsdb_head_samples_appended_total", 1.4e7, "type", "float"),
		self("prometheus_tsdb_head_samples_appended_total", 0, "type", "histogram"),
		self("prometheus_tsdb_retention_limit_bytes", retentionBytes),
		self("process_start_time_seconds", sampleTime-7200),
		self("process_resident_memory_bytes", 300<<20),
	)
}

func newHealthAnswers() *healthAnswers {
	return &healthAnswers{
		vectors: map[string]string{
			`up{job="prometheus"}`:         vector(self("up", 1)),
			`{__name__=~"prometheus_tsdb_`: figures(1<<30, 100<<20, 20000, 18<<30),
			`sum(rate(prometheus_tsdb_head_samples_appended_total{job="prometheus",instance="localhost:9090"}[1h]))`: vector(map[string]any{"value": 2000.0}),
			`count({__name__=~".+_bucket",job=~"linkerd-.+"})`:                                                       vector(map[string]any{"value": 4000.0}),
		},
		tsdb: `{"headStats":{"numSeries":20000,"numLabelPairs":900,"chunkCount":40000,"minTime":1763780400000,"maxTime":1763787600000},
			"seriesCountByMetricName":[{"name":"response_latency_ms_bucket","value":3000},{"name":"request_total","value":1200},{"name":"up","value":40}],
			"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}`,
		blocks: fmt.Sprintf(`{"blocks":[{"ulid":"01A","minTime":1763700000000,"maxTime":1763707200000,"stats":{"numSamples":%d},"compaction":{"level":1},"version":1}]}`, (1<<30)*2/3),
	}
}

func (h *healthAnswers) answers(q string) string {
	var best string
	for k := range h.vectors {
		if strings.Contains(q, k) && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return ""
	}
	return h.vectors[best]
}

func TestPrometheusHealthPasses(t *testing.T) {
	f := newFixture(t)
	res := f.run(Options{Categories: []string{"prometheus-health"}})
	// Without rules, the rule checks do not apply.
	notApplicable := []string{"rule evaluations are not failing", "no rule evaluations are missed"}
	for _, c := range res.Categories {
		if c.Name != CategoryPrometheusHealth {
			continue
		}
		for _, r := range c.Checks {
			want := healthcheck.StatusSuccess
			if slices.Contains(notApplicable, r.Description) {
				want = healthcheck.StatusSkipped
			}
			if r.Status != want {
				t.Errorf("%s: %s, want %s: %v", r.Description, r.Status, want, r.Err)
			}
		}
	}
	expect(t, res, "the configured retention fits on disk", healthcheck.StatusSuccess,
		"ingesting 2000.0 samples/s (1h average), 20000 head series", "1.50 bytes/sample (measured on the blocks)",
		"15d needs 3.7 GiB, within retention size 18.0 GiB")
	expect(t, res, "memory limit covers the head series", healthcheck.StatusSuccess, "no memory limit; 20000 head series × 4.0 KiB ≈ 78.1 MiB")
	expect(t, res, "Linkerd histograms are not most of the series", healthcheck.StatusSuccess,
		"20000 head series, 4000 of them Linkerd histogram buckets", "response_latency_ms_bucket: 3000 series")
}

func TestPrometheusHealthFails(t *testing.T) {
	fire := func(key string, series ...map[string]any) func(*fixture) {
		return func(f *fixture) { f.prom.health.vectors[key] = vector(series...) }
	}
	withRules := fire("prometheus_rule_group_rules", self("prometheus_rule_group_rules", 2, "rule_group", "/etc/config/rules;linkerd"))
	both := func(fs ...func(*fixture)) func(*fixture) {
		return func(f *fixture) {
			for _, fn := range fs {
				fn(f)
			}
		}
	}
	for _, tc := range []struct {
		name         string
		breakFixture func(*fixture)
		check        string
		status       healthcheck.Status
		want         []string
	}{
		{"reload", func(f *fixture) { f.prom.reloadOK = false }, "last configuration reload succeeded", healthcheck.StatusError,
			[]string{"rejected its latest configuration"}},
		{"no self-scrape", fire(`up{job="prometheus"}`), "Prometheus scrapes its own metrics", healthcheck.StatusError,
			[]string{`up{job="prometheus"}`, "meshmon install"}},
		{"self-scrape down", fire(`up{job="prometheus"}`, self("up", 0)), "Prometheus scrapes its own metrics", healthcheck.StatusError,
			[]string{"target localhost:9090 is down"}},
		{"compactions", fire("prometheus_tsdb_compactions_failed_total", self("", 2)), "TSDB compactions are not failing", healthcheck.StatusWarning,
			[]string{"PrometheusTSDBCompactionsFailing", `instance="localhost:9090": 2`, "kubectl logs -n linkerd-viz deployment/prometheus-server -c prometheus-server"}},
		{"tsdb reloads", fire("prometheus_tsdb_reloads_failures_total", self("", 1)), "TSDB reloads are not failing", healthcheck.StatusWarning,
			[]string{"PrometheusTSDBReloadsFailing", "corrupt block"}},
		{"wal", fire("prometheus_tsdb_wal_corruptions_total", self("", 1)), "no WAL corruptions", healthcheck.StatusWarning,
			[]string{"corrupt write-ahead log"}},
		{"ingesting", fire("prometheus_target_metadata_cache_entries", self("", 0)), "samples are being ingested", healthcheck.StatusError,
			[]string{"PrometheusNotIngestingSamples"}},
		{"rule failures", both(withRules, fire("prometheus_rule_evaluation_failures_total", self("", 3, "rule_group", "/etc/config/rules;linkerd"))),
			"rule evaluations are not failing", healthcheck.StatusError,
			[]string{"PrometheusRuleFailures", `rule_group="/etc/config/rules;linkerd": 3`}},
		{"missed evaluations", both(withRules, fire("prometheus_rule_group_iterations_missed_total", self("", 1, "rule_group", "slow"))),
			"no rule evaluations are missed", healthcheck.StatusWarning, []string{"PrometheusMissingRuleEvaluations", `rule_group="slow"`}},
		{"target sync", fire("prometheus_target_sync_failed_total", self("", 1, "scrape_job", "linkerd-proxy")), "target sync is not failing", healthcheck.StatusError,
			[]string{"PrometheusTargetSyncFailure", `scrape_job="linkerd-proxy"`}},
		{"sd refresh", fire("prometheus_sd_refresh_failures_total", self("", 4, "mechanism", "kubernetes", "config", "linkerd-proxy")),
			"service discovery refreshes are not failing", healthcheck.StatusWarning, []string{"PrometheusSDRefreshFailure", `mechanism="kubernetes"`, "auth can-i list pods"}},
		{"out of order", fire("prometheus_target_scrapes_sample_out_of_order_total", self("", 0.5)),
			"no samples with out-of-order timestamps are dropped", healthcheck.StatusWarning, []string{"PrometheusOutOfOrderTimestamps", ": 0.5", "out-of-order"}},
		{"duplicates", fire("prometheus_target_scrapes_sample_duplicate_timestamp_total", self("", 2)),
			"no samples with duplicate timestamps are dropped", healthcheck.StatusWarning, []string{"PrometheusDuplicateTimestamps"}},
		{"target limit", fire("prometheus_target_scrape_pool_exceeded_target_limit_total", self("", 7)),
			"no scrape pool hits its target, label, sample or body size limit", healthcheck.StatusWarning, []string{"PrometheusTargetLimitHit, target_limit"}},
		{"label limit", fire("prometheus_target_scrape_pool_exceeded_label_limits_total", self("", 1)),
			"no scrape pool hits its target, label, sample or body size limit", healthcheck.StatusWarning, []string{"PrometheusLabelLimitHit"}},
		{"sample limit", fire("prometheus_target_scrapes_exceeded_sample_limit_total", self("", 3)),
			"no scrape pool hits its target, label, sample or body size limit", healthcheck.StatusWarning, []string{"PrometheusScrapeSampleLimitHit, sample_limit"}},
		{"body size limit", fire("prometheus_target_scrapes_exceeded_body_size_limit_total", self("", 3)),
			"no scrape pool hits its target, label, sample or body size limit", healthcheck.StatusWarning, []string{"PrometheusScrapeBodySizeLimitHit"}},
		{"memory", func(f *fixture) {
			f.setServerPodSpec(func(s *corev1.PodSpec) {
				for i := range s.Containers {
					if s.Containers[i].Name == serverName {
						s.Containers[i].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
					}
				}
			})
		}, "memory limit covers the head series", healthcheck.StatusWarning, []string{"memory limit 64Mi is below", "20000 head series × 4.0 KiB ≈ 78.1 MiB", "resident now 300.0 MiB"}},
		{"volume overflows", func(f *fixture) {
			f.prom.health.vectors[`{__name__=~"prometheus_tsdb_`] = figures(1<<30, 100<<20, 20000, 0)
			pvc := f.pvc()
			pvc.Status.Capacity[corev1.ResourceStorage] = resource.MustParse("3Gi")
			f.update(pvc)
		}, "the configured retention fits on disk", healthcheck.StatusError,
			[]string{"fills up before the retention period ends", "the volume holds 3.0 GiB and no retention size is set", "--storage-size", "--retention", "remote write"}},
		{"retention size cuts short", func(f *fixture) {
			f.prom.health.vectors[`{__name__=~"prometheus_tsdb_`] = figures(1<<30, 100<<20, 20000, 2<<30)
		}, "the configured retention fits on disk", healthcheck.StatusWarning,
			[]string{"at 2.0k samples/s, 15d needs 3.7 GiB, retention size 2.0 GiB keeps about 8d"}},
		{"fresh Prometheus on a tiny volume", func(f *fixture) {
			f.prom.health.vectors[`{__name__=~"prometheus_tsdb_`] = vector(
				self("prometheus_tsdb_wal_storage_size_bytes", 1<<20), self("prometheus_tsdb_head_series", 800),
				self("process_start_time_seconds", sampleTime-60), self("prometheus_tsdb_head_samples_appended_total", 60000))
			delete(f.prom.health.vectors, `sum(rate(prometheus_tsdb_head_samples_appended_total{job="prometheus",instance="localhost:9090"}[1h]))`)
			pvc := f.pvc()
			pvc.Status.Capacity[corev1.ResourceStorage] = resource.MustParse("16Mi")
			f.update(pvc)
		}, "the configured retention fits on disk", healthcheck.StatusError,
			[]string{"ingesting 1000.0 samples/s (1m average)", "2.00 bytes/sample (default until the first block is written)", "full in about 2h"}},
		{"cardinality", fire(`count({__name__=~".+_bucket",job=~"linkerd-.+"})`, map[string]any{"value": 15000.0}),
			"Linkerd histograms are not most of the series", healthcheck.StatusWarning,
			[]string{"75% of all series", "response_latency_ms_bucket and route_response_latency_ms_bucket", "metric_relabel_configs", "response_latency_ms_bucket: 3000 series"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.breakFixture(f)
			expect(t, f.run(Options{Categories: []string{"prometheus-health"}}), tc.check, tc.status, tc.want...)
		})
	}
}

func TestPrometheusHealthNeedsTheSelfScrape(t *testing.T) {
	f := newFixture(t)
	f.prom.health.vectors[`up{job="prometheus"}`] = "[]"
	res := f.run(Options{Categories: []string{"prometheus-health"}})
	expect(t, res, "TSDB compactions are not failing", healthcheck.StatusSkipped)
	expect(t, res, "the configured retention fits on disk", healthcheck.StatusSkipped)
}

func TestRuleChecksPassWithHealthyRules(t *testing.T) {
	f := newFixture(t)
	f.prom.health.vectors["prometheus_rule_group_rules"] = vector(self("prometheus_rule_group_rules", 4, "rule_group", "/etc/config/rules;linkerd"))
	res := f.run(Options{Categories: []string{"prometheus-health"}})
	expect(t, res, "rule evaluations are not failing", healthcheck.StatusSuccess)
	expect(t, res, "no rule evaluations are missed", healthcheck.StatusSuccess)
}
