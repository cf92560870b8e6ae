package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// Prometheus defaults the release values are compared with when they leave
// a setting out.
const (
	// adminHTTPPortName is the control-plane port name old docs keep; no
	// Linkerd component has used it for years.
	adminHTTPPortName = "admin-http"
)

// promConn is the way to Prometheus: a client, through a tunnel unless
// --prometheus-url was given.
type promConn struct {
	client *prom.Client
	tunnel *Tunnel
}

// Prometheus returns a client for the release's Prometheus, opening the
// port-forward on first use.
func (e *Env) Prometheus(ctx context.Context) (*prom.Client, error) {
	c, err := e.promConn.get(ctx, func(ctx context.Context) (*promConn, error) {
		opts := []prom.Option{prom.WithRoundTripper(e.deps.Transport)}
		if e.opts.PrometheusURL != "" {
			pc, err := prom.New(e.opts.PrometheusURL, opts...)
			if err != nil {
				return nil, fmt.Errorf("--prometheus-url: %w", err)
			}
			return &promConn{client: pc}, nil
		}
		clients, err := e.Clients(ctx)
		if err != nil {
			return nil, err
		}
		s, err := e.Server(ctx)
		if err != nil {
			return nil, err
		}
		port := int32(defaultListenPort)
		if w, err := e.serverWorkload(ctx); err == nil {
			if c, ok := promContainer(w); ok {
				port = listenPort(c)
			}
		}
		target := kube.ForwardTarget{Namespace: s.Namespace, Selector: serverSelector(s), Port: int(port), What: "the Prometheus server"}
		if pods, err := e.ServerPods(ctx); err == nil {
			target.Candidates = pods // listed by this attempt's release checks: no second list
		}
		t, err := e.deps.PortForward(ctx, clients, target)
		if err != nil {
			return nil, fmt.Errorf("%w (or pass --prometheus-url to reach Prometheus another way)", err)
		}
		e.track(t)
		pc, err := prom.New("http://"+t.Addr, opts...)
		if err != nil {
			t.Stop()
			return nil, err
		}
		return &promConn{client: pc, tunnel: t}, nil
	})
	if err != nil {
		return nil, err
	}
	return c.client, nil
}

// dropPrometheus closes the connection so that the next use opens a new
// one (the pod may have been replaced while --wait retries).
func (e *Env) dropPrometheus() {
	if c, ok := e.promConn.current(); ok && c.tunnel != nil {
		c.tunnel.Stop()
	}
	e.promConn.reset()
	e.serverPods.reset()
	e.runtime.reset()
	e.promConfig.reset()
	e.targets.reset()
	e.flags.reset()
}

// promErr adds what the port-forward knows to a failed request.
func (e *Env) promErr(err error) error {
	if err == nil {
		return nil
	}
	c, ok := e.promConn.current()
	if !ok || c.tunnel == nil || c.tunnel.LastError == nil {
		return err
	}
	switch prom.KindOf(err) {
	case prom.KindUnreachable, prom.KindTimeout, prom.KindBadResponse:
		if fe := c.tunnel.LastError(); fe != nil {
			return fmt.Errorf("%w (port-forward to pod %s: %v)", err, c.tunnel.Pod, fe)
		}
	}
	return err
}

func (e *Env) runtimeInfo(ctx context.Context) (prom.RuntimeInfo, error) {
	return e.runtime.get(ctx, func(ctx context.Context) (prom.RuntimeInfo, error) {
		pc, err := e.Prometheus(ctx)
		if err != nil {
			return prom.RuntimeInfo{}, err
		}
		ri, err := pc.RuntimeInfo(ctx)
		return ri, e.promErr(err)
	})
}

func (e *Env) runningConfig(ctx context.Context) (*prom.Config, error) {
	return e.promConfig.get(ctx, func(ctx context.Context) (*prom.Config, error) {
		pc, err := e.Prometheus(ctx)
		if err != nil {
			return nil, err
		}
		cfg, err := pc.Config(ctx)
		return cfg, e.promErr(err)
	})
}

func (e *Env) promFlags(ctx context.Context) (map[string]string, error) {
	return e.flags.get(ctx, func(ctx context.Context) (map[string]string, error) {
		pc, err := e.Prometheus(ctx)
		if err != nil {
			return nil, err
		}
		f, err := pc.Flags(ctx)
		return f, e.promErr(err)
	})
}

// PrometheusAPI checks Prometheus itself: that it answers, runs the
// configuration meshmon gave it, and keeps data as long as asked.
func PrometheusAPI(e *Env) healthcheck.Category {
	reachNeeds := []string{idServerReady}
	if e.opts.PrometheusURL != "" {
		reachNeeds = []string{idClient}
	}
	return healthcheck.Category{
		Name: CategoryPrometheusAPI,
		Checks: []healthcheck.Check{
			{
				ID:          idPromReachable,
				Description: "can reach Prometheus",
				HintAnchor:  "mm-prometheus-reachable",
				Fatal:       true,
				Retryable:   true,
				Needs:       reachNeeds,
				Run:         fresh(e.checkReachable, resetFunc(e.dropPrometheus)),
			},
			{
				ID:          idPromReady,
				Description: "Prometheus is ready",
				HintAnchor:  "mm-prometheus-ready",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idPromReachable},
				Run:         fresh(e.checkReady, resetFunc(e.dropPrometheus)),
			},
			{
				Description: "Linkerd scrape jobs are configured",
				HintAnchor:  "mm-linkerd-jobs",
				Needs:       []string{idPromReady, idLinkerdConfig},
				Run:         e.checkJobs,
			},
			{
				Description: "scrape intervals are as configured",
				HintAnchor:  "mm-intervals",
				Needs:       []string{idPromReady, idRelease},
				Run:         e.checkIntervals,
			},
			{
				Description: "retention is as configured",
				HintAnchor:  "mm-retention",
				Needs:       []string{idPromReady, idRelease},
				Run:         e.checkRetention,
			},
		},
	}
}

func (e *Env) checkReachable(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	err = pc.Ready(ctx)
	switch prom.KindOf(err) {
	case prom.KindUnreachable, prom.KindTimeout:
		return e.promErr(err)
	}
	return nil
}

func (e *Env) checkReady(ctx context.Context) error {
	pc, err := e.Prometheus(ctx)
	if err != nil {
		return err
	}
	if err := pc.Ready(ctx); err != nil {
		return e.promErr(err)
	}
	bi, err := pc.BuildInfo(ctx)
	if err != nil {
		return e.promErr(err)
	}
	return healthcheck.Detail("\t* Prometheus " + bi.Version)
}

func (e *Env) checkReload(ctx context.Context) error {
	ri, err := e.runtimeInfo(ctx)
	if err != nil {
		return err
	}
	if ri.ReloadConfigSuccess {
		return nil
	}
	since := "an earlier configuration"
	if !ri.LastConfigTime.IsZero() {
		since = "the configuration loaded at " + ri.LastConfigTime.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return fmt.Errorf("Prometheus rejected its latest configuration and still runs %s, so recent changes are not in effect; find the reason in its log (kubectl logs -n %s %s -c %s | grep -i error), often a duplicated job or a key in the wrong place",
		since, e.namespaceOrEmpty(ctx), e.workloadRef(ctx), e.workloadName(ctx))
}

func (e *Env) workloadName(ctx context.Context) string {
	if s, err := e.Server(ctx); err == nil {
		return s.WorkloadName
	}
	return release.ServerFullname(e.opts.ReleaseName)
}

func (e *Env) checkJobs(ctx context.Context) error {
	cfg, err := e.runningConfig(ctx)
	if err != nil {
		return err
	}
	p, err := e.linkerdParams(ctx)
	if err != nil {
		return err
	}
	var problems []string
	for _, want := range scrape.LinkerdJobNames() {
		found := false
		for _, sc := range cfg.ScrapeConfigs {
			if scrape.CanonicalJobName(sc.JobName) == want {
				found = true
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("job %s is missing", want))
		}
	}
	for i := range cfg.ScrapeConfigs {
		sc := &cfg.ScrapeConfigs[i]
		if scrape.CanonicalJobName(sc.JobName) != scrape.JobLinkerdController && scrape.CanonicalJobName(sc.JobName) != scrape.JobLinkerdMulticluster {
			continue
		}
		for _, r := range sc.RelabelConfigs {
			if r.Action == "keep" && strings.Contains(r.Regex, adminHTTPPortName) {
				problems = append(problems, fmt.Sprintf("job %s keeps only ports matching %q, a port name Linkerd no longer uses, so it scrapes nothing", sc.JobName, r.Regex))
			}
		}
		if sc.JobName != scrape.JobLinkerdController {
			continue
		}
		for _, sd := range sc.KubernetesSDConfigs {
			names := sd.Namespaces.Names
			if len(names) == 0 {
				continue
			}
			for _, ns := range []string{p.LinkerdNamespace, e.vizNamespaceOr(ctx)} {
				if ns != "" && !slices.Contains(names, ns) {
					problems = append(problems, fmt.Sprintf("job %s does not discover pods in namespace %s", sc.JobName, ns))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("Prometheus' Linkerd jobs are incomplete, so some Linkerd metrics are never collected; run meshmon install to regenerate them (jobs belong in serverFiles.\"prometheus.yml\".scrape_configs: under server: the chart ignores them):%s", allBullets(problems))
	}
	return nil
}

func (e *Env) vizNamespaceOr(ctx context.Context) string {
	ns, err := e.vizNamespace(ctx)
	if err != nil {
		return ""
	}
	return ns
}

// releaseValues are the values the latest release was rendered with: the
// chart's defaults overlaid with the user's.
func (e *Env) releaseValues(ctx context.Context) (map[string]any, *releasev1.Release, error) {
	rel, err := e.latestRelease(ctx)
	if err != nil {
		return nil, nil, err
	}
	var defaults map[string]any
	if rel.Chart != nil {
		defaults = rel.Chart.Values
	}
	return helmvalues.Merge(defaults, rel.Config), rel, nil
}

func (e *Env) checkIntervals(ctx context.Context) error {
	cfg, err := e.runningConfig(ctx)
	if err != nil {
		return err
	}
	values, rel, err := e.releaseValues(ctx)
	if err != nil {
		return err
	}
	var diffs []string
	for _, f := range []struct {
		key string
		got model.Duration
	}{
		{"scrape_interval", cfg.Global.ScrapeInterval},
		{"scrape_timeout", cfg.Global.ScrapeTimeout},
		{"evaluation_interval", cfg.Global.EvaluationInterval},
	} {
		want, ok := helmvalues.LookupString(values, "server", "global", f.key)
		if !ok {
			continue
		}
		d, err := model.ParseDuration(want)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("server.global.%s %q in the release is not a duration", f.key, want))
			continue
		}
		if d != f.got {
			diffs = append(diffs, fmt.Sprintf("%s: the release says %s, Prometheus runs %s", f.key, want, f.got))
		}
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.ScrapeTimeout > sc.ScrapeInterval {
			diffs = append(diffs, fmt.Sprintf("job %s: scrape_timeout %s is longer than its interval %s", sc.JobName, sc.ScrapeTimeout, sc.ScrapeInterval))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("Prometheus does not run the intervals of release %s revision %d: the configuration has not been reloaded yet, or the values are in a place the chart ignores; wait a minute and check again, else run meshmon install:%s",
			rel.Name, rel.Version, allBullets(diffs))
	}
	return nil
}

func (e *Env) checkRetention(ctx context.Context) error {
	flags, err := e.promFlags(ctx)
	if err != nil {
		return err
	}
	values, rel, err := e.releaseValues(ctx)
	if err != nil {
		return err
	}
	var diffs []string
	wantTime, ok := helmvalues.LookupString(values, "server", "retention")
	if !ok {
		wantTime = defaults.Retention
	}
	gotTime := flags["storage.tsdb.retention.time"]
	if gotTime == "" || gotTime == "0s" {
		gotTime = defaults.Retention
	}
	wd, werr := model.ParseDuration(wantTime)
	gd, gerr := model.ParseDuration(gotTime)
	if werr != nil || gerr != nil || wd != gd {
		diffs = append(diffs, fmt.Sprintf("retention time: the release says %s, Prometheus runs %s", wantTime, gotTime))
	}
	wantSize, _ := helmvalues.LookupString(values, "server", "retentionSize")
	gotSize := flags["storage.tsdb.retention.size"]
	wb, _ := parsePrometheusSize(orZero(wantSize))
	gb, _ := parsePrometheusSize(orZero(gotSize))
	if wb != gb {
		diffs = append(diffs, fmt.Sprintf("retention size: the release says %s, Prometheus runs %s", orNoneStr(wantSize), orNoneStr(gotSize)))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("Prometheus does not run with the retention of release %s revision %d: its pod predates the last upgrade; restart it (kubectl rollout restart %s -n %s):%s",
			rel.Name, rel.Version, e.workloadRef(ctx), e.namespaceOrEmpty(ctx), allBullets(diffs))
	}
	return nil
}

func orZero(s string) string {
	if s == "" || s == "0" {
		return "0B"
	}
	return s
}

func orNoneStr(s string) string {
	if s == "" || s == "0" || s == "0B" {
		return "none"
	}
	return s
}
