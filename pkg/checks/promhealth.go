package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// selfSelector selects Prometheus' scrape of itself, the job meshmon's
// configuration always has: every check of this category reads it.
var selfSelector = fmt.Sprintf("job=%q", scrape.JobPrometheus)

// linkerdJobs selects the series of Linkerd's scrape jobs.
const linkerdJobs = `job=~"linkerd-.+"`

// bytesPerHeadSeries is the memory estimate per head series: twice the
// ~2 KiB per series that Robust Perception's "How much RAM does Prometheus
// 2.x need for cardinality and ingestion?" (2019) works out for cardinality
// alone (about 2 GiB per million series), to cover the head's chunks for
// three hours of ingestion and the queries viz runs.
const bytesPerHeadSeries = 4 << 10

// topMetrics is how many metric names the cardinality check lists.
const topMetrics = 10

const idPromSelf = "prometheus-self-scrape"

// PrometheusHealth checks Prometheus' own health the way the
// prometheus-mixin's alerts on Prometheus do, and whether its memory and
// disk fit what it holds.
func PrometheusHealth(e *Env) healthcheck.Category {
	self := []string{idPromSelf}
	mixin := func(desc, anchor string, warning bool, run func(context.Context) error) healthcheck.Check {
		return healthcheck.Check{Description: desc, HintAnchor: anchor, Warning: warning, Needs: self, Run: run}
	}
	return healthcheck.Category{
		Name: CategoryPrometheusHealth,
		Checks: []healthcheck.Check{
			{
				Description: "last configuration reload succeeded",
				HintAnchor:  "mm-config-reload",
				Needs:       []string{idPromReady},
				Run:         e.checkReload,
			},
			{
				ID:          idPromSelf,
				Description: "Prometheus scrapes its own metrics",
				HintAnchor:  "mm-prom-self-scrape",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idPromReady},
				Run:         e.checkSelfScrape,
			},
			mixin("TSDB compactions are not failing", "mm-prom-compactions", true, e.checkCompactions),
			mixin("TSDB reloads are not failing", "mm-prom-tsdb-reloads", true, e.checkTSDBReloads),
			mixin("no WAL corruptions", "mm-prom-wal-corruptions", true, e.checkWALCorruptions),
			mixin("samples are being ingested", "mm-prom-ingesting", false, e.checkIngesting),
			mixin("rule evaluations are not failing", "mm-prom-rule-failures", false, e.checkRuleFailures),
			mixin("no rule evaluations are missed", "mm-prom-missed-evaluations", true, e.checkMissedEvaluations),
			mixin("target sync is not failing", "mm-prom-target-sync", false, e.checkTargetSync),
			mixin("service discovery refreshes are not failing", "mm-prom-sd-refresh", true, e.checkSDRefresh),
			mixin("no samples with out-of-order timestamps are dropped", "mm-prom-out-of-order", true, e.checkOutOfOrder),
			mixin("no samples with duplicate timestamps are dropped", "mm-prom-duplicate-timestamps", true, e.checkDuplicates),
			mixin("no scrape pool hits its target, label, sample or body size limit", "mm-prom-scrape-limits", true, e.checkScrapeLimits),
			mixin("memory limit covers the head series", "mm-prom-memory", true, e.checkMemory),
			mixin("the configured retention fits on disk", "mm-prom-capacity", false, e.checkCapacity),
			mixin("Linkerd histograms are not most of the series", "mm-prom-cardinality", true, e.checkCardinality),
		},
	}
}

// firing evaluates a mixin alert through the port-forward.
func (e *Env) firing(ctx context.Context, a prom.Alert) ([]prom.Firing, error) {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return nil, err
	}
	f, err := pc.Firing(ctx, a, selfSelector)
	return f, e.promErr(err)
}

func describe(fs []prom.Firing) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Describe())
	}
	return out
}

func (e *Env) logsHint(ctx context.Context, grep string) string {
	return fmt.Sprintf("kubectl logs -n %s %s -c %s | grep -i %q", e.namespaceOrEmpty(ctx), e.workloadRef(ctx), e.workloadName(ctx), grep)
}

func (e *Env) checkSelfScrape(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	ups, err := pc.SelfScrape(ctx, selfSelector)
	if err != nil {
		return e.promErr(err)
	}
	if len(ups) == 0 {
		return fmt.Errorf("Prometheus has no %s series yet: without its scrape of itself (job %s, meshmon's configuration has it) its own health cannot be judged; if it just started, wait one scrape interval, else run meshmon install to restore the job", "up{"+selfSelector+"}", scrape.JobPrometheus)
	}
	var down []string
	for _, u := range ups {
		if u.Value != 1 {
			down = append(down, u.Labels["instance"])
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("Prometheus cannot scrape itself (job %s, target %s is down), so its own metrics are stale; see the target's error with kubectl meshmon check --category targets or on /targets", scrape.JobPrometheus, strings.Join(down, ", "))
	}
	return nil
}

func (e *Env) checkCompactions(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertTSDBCompactionsFailing)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("TSDB compactions failed in the last 3h (%s): the head block is not written to disk blocks, so memory and WAL grow until Prometheus is OOM-killed or the volume is full; the reason is in the log (%s), most often a full or read-only volume:%s",
		prom.AlertTSDBCompactionsFailing.Name, e.logsHint(ctx, "compaction failed"), bullets(describe(fs)))
}

func (e *Env) checkTSDBReloads(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertTSDBReloadsFailing)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("Prometheus failed to reload its blocks from disk in the last 3h (%s): new blocks are not queryable and old ones are not deleted; look for a corrupt block in the log (%s) and move it out of the data directory:%s",
		prom.AlertTSDBReloadsFailing.Name, e.logsHint(ctx, "reload"), bullets(describe(fs)))
}

func (e *Env) checkWALCorruptions(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertWALCorruptions)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("Prometheus found a corrupt write-ahead log when it started and repaired it by dropping everything after the corruption, so samples from before that restart are missing; it happens after an unclean stop (OOM kill, node loss) or on storage that does not honour fsync: check the pod's last termination reason and the volume:%s",
		bullets(describe(fs)))
}

func (e *Env) checkIngesting(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertNotIngestingSamples)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("Prometheus has targets or rules but appended no sample in the last 5 minutes (%s): nothing new reaches the dashboard; look for a full volume or head errors in the log (%s) and check that targets are up (kubectl meshmon check --category targets)",
		prom.AlertNotIngestingSamples.Name, e.logsHint(ctx, "append"))
}

// withRules skips a rule check when Prometheus evaluates no rules.
func (e *Env) withRules(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	groups, _, err := pc.RuleGroups(ctx, selfSelector)
	if err != nil {
		return e.promErr(err)
	}
	if groups == 0 {
		return healthcheck.Skip("Prometheus has no rules")
	}
	return nil
}

func (e *Env) checkRuleFailures(ctx context.Context) error {
	if err := e.withRules(ctx); err != nil {
		return err
	}
	fs, err := e.firing(ctx, prom.AlertRuleFailures)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("rule evaluations failed in the last 5 minutes (%s), so their recorded series or alerts are missing; the failing rule and its error are on /rules (kubectl port-forward, or meshmon's --prometheus-url) and in the log (%s):%s",
		prom.AlertRuleFailures.Name, e.logsHint(ctx, "evaluating rule"), bullets(describe(fs)))
}

func (e *Env) checkMissedEvaluations(ctx context.Context) error {
	if err := e.withRules(ctx); err != nil {
		return err
	}
	fs, err := e.firing(ctx, prom.AlertMissingRuleEvaluations)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("rule groups missed evaluations in the last 5 minutes (%s): a group takes longer than its interval, so its series have gaps; give the group a longer interval, split it, or make its queries cheaper:%s",
		prom.AlertMissingRuleEvaluations.Name, bullets(describe(fs)))
}

func (e *Env) checkTargetSync(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertTargetSyncFailure)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("scrape pools failed to sync their targets in the last 30 minutes (%s): their configuration is invalid (often a TLS file or credential that does not exist), so their targets are not scraped; the reason is in the log (%s):%s",
		prom.AlertTargetSyncFailure.Name, e.logsHint(ctx, "creating target"), bullets(describe(fs)))
}

func (e *Env) checkSDRefresh(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertSDRefreshFailure)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("service discovery failed to refresh in the last 10 minutes (%s), so new pods are not found and gone ones are kept; for Kubernetes discovery check Prometheus' RBAC (kubectl auth can-i list pods --as system:serviceaccount:%s:%s -A):%s",
		prom.AlertSDRefreshFailure.Name, e.namespaceOrEmpty(ctx), e.workloadName(ctx), bullets(describe(fs)))
}

func (e *Env) checkOutOfOrder(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertOutOfOrderTimestamps)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("Prometheus is dropping samples whose timestamps go backwards (%s, samples/s per server below): a target exposes explicit timestamps that are not increasing, or two jobs scrape the same series; Prometheus counts these per server, and its log names the scrape pool and target (%s):%s",
		prom.AlertOutOfOrderTimestamps.Name, e.logsHint(ctx, "out-of-order"), bullets(describe(fs)))
}

func (e *Env) checkDuplicates(ctx context.Context) error {
	fs, err := e.firing(ctx, prom.AlertDuplicateTimestamps)
	if err != nil || len(fs) == 0 {
		return err
	}
	return fmt.Errorf("Prometheus is dropping samples with the same timestamp but a different value (%s, samples/s per server below): a target exposes one series twice, or relabelling made two series the same; its log names the scrape pool and target (%s):%s",
		prom.AlertDuplicateTimestamps.Name, e.logsHint(ctx, "duplicate"), bullets(describe(fs)))
}

func (e *Env) checkScrapeLimits(ctx context.Context) error {
	var hits []string
	for _, a := range []struct {
		alert prom.Alert
		what  string
	}{
		{prom.AlertTargetLimitHit, "target_limit (targets dropped)"},
		{prom.AlertLabelLimitHit, "label_limit, label_name_length_limit or label_value_length_limit (scrapes failed)"},
		{prom.AlertScrapeSampleLimitHit, "sample_limit (scrapes failed)"},
		{prom.AlertScrapeBodySizeLimitHit, "body_size_limit (scrapes failed)"},
	} {
		fs, err := e.firing(ctx, a.alert)
		if err != nil {
			return err
		}
		for _, f := range fs {
			hits = append(hits, fmt.Sprintf("%s, %s: %s in the last 5m", a.alert.Name, a.what, f.Describe()))
		}
	}
	if len(hits) > 0 {
		return fmt.Errorf("scrape pools hit a configured limit, so whole targets or scrapes are lost (not just the excess); raise the limit in the job, or drop series with metric_relabel_configs:%s", allBullets(hits))
	}
	return nil
}

func (e *Env) checkMemory(ctx context.Context) error {
	w, err := e.serverWorkload(ctx)
	if err != nil {
		return healthcheck.Skip("the Prometheus workload is not known")
	}
	c, ok := promContainer(w)
	if !ok {
		return healthcheck.Skip("no Prometheus container")
	}
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	f, err := pc.TSDBFigures(ctx, selfSelector)
	if err != nil {
		return e.promErr(err)
	}
	need := f.HeadSeries * bytesPerHeadSeries
	figures := fmt.Sprintf("%.0f head series × %s ≈ %s", f.HeadSeries, prom.HumanBytes(bytesPerHeadSeries), prom.HumanBytes(need))
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok || limit.IsZero() {
		return healthcheck.Detail("\t* no memory limit; " + figures)
	}
	if lb := limit.AsApproximateFloat64(); lb < need {
		return fmt.Errorf("container %s may be OOM-killed: its memory limit %s is below the estimate for its series (%s; resident now %s); raise server.resources.limits.memory, or reduce the series (see the cardinality check)",
			c.Name, limit.String(), figures, prom.HumanBytes(f.ResidentBytes))
	}
	return healthcheck.Detail(fmt.Sprintf("\t* limit %s, %s", limit.String(), figures))
}

// Forecast predicts whether the configured retention fits on disk; the
// volume is the first bound data claim's capacity, 0 when none is known.
func (e *Env) Forecast(ctx context.Context) (prom.TSDBFigures, prom.Forecast, error) {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return prom.TSDBFigures{}, prom.Forecast{}, err
	}
	f, err := pc.TSDBFigures(ctx, selfSelector)
	if err != nil {
		return prom.TSDBFigures{}, prom.Forecast{}, e.promErr(err)
	}
	flags, err := e.promFlags(ctx)
	if err != nil {
		return prom.TSDBFigures{}, prom.Forecast{}, err
	}
	l := prom.Limits{RetentionSize: f.RetentionLimitBytes, Retention: prom.RetentionTime(flags, f.RetentionLimitBytes > 0)}
	if pvcs, err := e.boundClaims(ctx); err == nil && len(pvcs) > 0 {
		if q, ok := pvcs[0].Status.Capacity[corev1.ResourceStorage]; ok {
			l.Volume = q.AsApproximateFloat64()
		}
	}
	return f, prom.Predict(f, l), nil
}

func (e *Env) checkCapacity(ctx context.Context) error {
	f, fc, err := e.Forecast(ctx)
	if err != nil {
		return err
	}
	lines := []string{
		fmt.Sprintf("ingesting %.1f samples/s (%s average), %.0f head series", f.SamplesPerSecond, model.Duration(time.Duration(f.RateWindowSeconds)*time.Second), f.HeadSeries),
		fmt.Sprintf("on disk %s: %.0f blocks %s, WAL %s, head chunks %s", prom.HumanBytes(f.DiskUsed()), f.Blocks, prom.HumanBytes(f.BlockBytes), prom.HumanBytes(f.WALBytes), prom.HumanBytes(f.HeadChunkBytes)),
		fmt.Sprintf("%.2f bytes/sample (%s)", fc.BytesPerSample, map[string]string{"blocks": "measured on the blocks", "default": "default until the first block is written"}[fc.BytesPerSampleFrom]),
		fc.Summary,
	}
	if fc.VolumeBytes == 0 {
		lines = append(lines, "the volume's capacity is not known, so only the retention size is compared")
	}
	detail := "\n\t* " + strings.Join(lines, "\n\t* ")
	switch fc.Outcome {
	case prom.OutcomeOverflow:
		return fmt.Errorf("the data volume fills up before the retention period ends, and then Prometheus stops ingesting and may crash-loop: %s; reinstall with a larger --storage-size (or a StorageClass that allows more), a shorter --retention, a --retention-size below the volume, or fewer series (drop unused Linkerd histograms, see the cardinality check, or filter what remote write keeps):%s",
			fc.Summary, detail)
	case prom.OutcomeCutShort:
		return healthcheck.Warn(fmt.Errorf("the retention size deletes data before the retention time: %s; to keep the whole retention, reinstall with a larger --storage-size and --retention-size, or a shorter --retention to say what is really kept:%s", fc.Summary, detail))
	case prom.OutcomeTight:
		return healthcheck.Warn(fmt.Errorf("the retention only just fits: %s; set --retention-size to about 90%% of the volume so that Prometheus deletes old blocks before the volume is full:%s", fc.Summary, detail))
	}
	return healthcheck.Detail(strings.TrimPrefix(detail, "\n"))
}

func (e *Env) checkCardinality(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	card, err := pc.Cardinality(ctx, topMetrics, linkerdJobs)
	if err != nil {
		return e.promErr(err)
	}
	var top []string
	for _, s := range card.Top {
		top = append(top, fmt.Sprintf("%s: %.0f series", s.Name, s.Series))
	}
	detail := fmt.Sprintf("\t* %.0f head series, %.0f of them Linkerd histogram buckets; most series:", card.HeadSeries, card.Buckets)
	if len(top) > 0 {
		detail += "\n\t  " + strings.Join(top, "\n\t  ")
	}
	if card.HeadSeries > 0 && card.Buckets > card.HeadSeries/2 {
		return fmt.Errorf("Linkerd's histogram buckets are %.0f%% of all series, and every one costs memory and disk; viz queries only response_latency_ms_bucket and route_response_latency_ms_bucket, so the other *_bucket metrics of the Linkerd jobs can be dropped with a metric_relabel_configs drop rule (see the hint):\n%s",
			100*card.Buckets/card.HeadSeries, detail)
	}
	return healthcheck.Detail(detail)
}
