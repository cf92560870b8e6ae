package prom_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

// These tests run the real Prometheus binary (see promtest) against a fake Linkerd proxy.

func TestRealPrometheus(t *testing.T) {
	srv, c := startLinkerdLike(t, promtest.Options{Args: []string{"--storage.tsdb.retention.time=3h"}})
	ctx := context.Background()

	t.Run("ready and build", func(t *testing.T) {
		if err := c.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := c.BuildInfo(ctx)
		if err != nil || b.Version == "" {
			t.Errorf("build info = %+v, %v", b, err)
		}
	})

	t.Run("targets", func(t *testing.T) {
		ts, err := c.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		proxy, _ := ts.Job("linkerd-proxy")
		if proxy.Up != 1 || proxy.Down != 0 || proxy.Targets[0].Pod != proxyPod {
			t.Errorf("linkerd-proxy = %+v", proxy)
		}
		ctrl, _ := ts.Job("linkerd-controller")
		if down := ctrl.DownTargets(); ctrl.Up != 0 || len(down) != 1 || !strings.Contains(down[0].LastError, "connection refused") {
			t.Errorf("linkerd-controller = %+v", ctrl)
		}
		if d, err := c.DroppedTargets(ctx); err != nil || d["dropped"] != 1 {
			t.Errorf("dropped targets = %v, %v; want dropped: 1", d, err)
		}
		if fed, _ := ts.Job("federate-west"); fed.Up != 1 {
			t.Errorf("federate-west = %+v", fed)
		}
	})

	t.Run("federate", func(t *testing.T) {
		// cluster="" keeps this Prometheus' own series: the federated ones carry cluster="west".
		local, err := c.Federate(ctx, []string{`{job="linkerd-proxy",cluster=""}`})
		if err != nil {
			t.Fatal(err)
		}
		// The proxy's lines plus the 5 series Prometheus adds per target (up, scrape_*).
		if local.Jobs["linkerd-proxy"] != proxySampleLines+5 || local.Samples != proxySampleLines+5 {
			t.Errorf("local federation = %+v, want %d samples", local, proxySampleLines+5)
		}
		if local.CommonLabels["cluster"] != "east" || local.CommonLabels["namespace"] != proxyNS {
			t.Errorf("CommonLabels = %v, want the external label cluster=east", local.CommonLabels)
		}
		both, err := c.Federate(ctx, []string{`{job="linkerd-proxy"}`, `{job="linkerd-controller"}`})
		if err != nil {
			t.Fatal(err)
		}
		// cluster "west" adds 2 samples to job linkerd-proxy; the down controller has its 5.
		if both.Jobs["linkerd-proxy"] != proxySampleLines+5+2 || both.Jobs["linkerd-controller"] != 5 {
			t.Errorf("jobs = %v", both.Jobs)
		}
		if _, ok := both.CommonLabels["cluster"]; ok {
			t.Errorf("cluster is not common to east and west samples: %v", both.CommonLabels)
		}
	})

	t.Run("query", func(t *testing.T) {
		v, found, err := c.ScalarQuery(ctx, `inbound_http_authz_allow_total{client_id="`+metricsAPIID+`"}`, time.Time{})
		if err != nil || !found || v != 42 {
			t.Errorf("allow counter = %v, %v, %v; want 42", v, found, err)
		}
		_, found, err = c.ScalarQuery(ctx, `up{job="nope"}`, time.Time{})
		if err != nil || found {
			t.Errorf("missing series: found=%v err=%v", found, err)
		}
		_, _, err = c.Query(ctx, "rate(up)", time.Time{})
		wantKind(t, err, prom.KindAPI, srv.URL, "bad_data")
		m, _, err := c.QueryRange(ctx, `up{job="linkerd-proxy",cluster=""}`, time.Now().Add(-time.Minute), time.Now(), time.Second)
		if err != nil || len(m) != 1 || len(m[0].Values) == 0 {
			t.Errorf("range = %v, %v", m, err)
		}
	})

	t.Run("flags and config", func(t *testing.T) {
		f, err := c.Flags(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f["storage.tsdb.retention.time"] != "3h" || f["storage.tsdb.path"] != srv.DataDir {
			t.Errorf("retention %q path %q", f["storage.tsdb.retention.time"], f["storage.tsdb.path"])
		}
		cfg, err := c.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fed, ok := cfg.Job("federate-west")
		if !ok || !fed.IsFederation() || cfg.Global.ExternalLabels["cluster"] != "east" {
			t.Errorf("federate-west = %+v, external labels %v", fed, cfg.Global.ExternalLabels)
		}
		if p, _ := cfg.Job("linkerd-proxy"); p == nil || p.IsFederation() || time.Duration(p.ScrapeInterval) != time.Second {
			t.Errorf("linkerd-proxy = %+v", p)
		}
		ok, last, err := c.ConfigReloadSuccessful(ctx)
		if err != nil || !ok || last.IsZero() {
			t.Errorf("reload = %v %v %v", ok, last, err)
		}
	})

	t.Run("authz", func(t *testing.T) {
		sum, err := c.AuthzCounters(ctx, prom.AuthzQuery{Selector: `namespace="` + proxyNS + `"`})
		if err != nil {
			t.Fatal(err)
		}
		checkAuthzSummary(t, sum)
		none, err := c.AuthzCounters(ctx, prom.AuthzQuery{Selector: `namespace="elsewhere"`})
		if err != nil || len(none.Servers) != 0 {
			t.Errorf("other namespace = %+v, %v", none, err)
		}
	})

	t.Run("persistence of a fresh data dir", func(t *testing.T) {
		ev, err := c.Persistence(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Proven || ev.ProcessStart.IsZero() {
			t.Errorf("fresh evidence = %+v", ev)
		}
	})
}

func TestRealConfigReloadFailure(t *testing.T) {
	const good = "global:\n  scrape_interval: 1s\n"
	srv := promtest.Start(t, promtest.Options{Config: good})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	if err := srv.Reload(ctx, "scrape_configs:\n- job_name: ''\n"); err == nil {
		t.Fatal("Prometheus accepted a job without a name")
	}
	ok, last, err := c.ConfigReloadSuccessful(ctx)
	if err != nil || ok || last.IsZero() {
		t.Errorf("after a bad reload = %v %v %v; want false and the last good load time", ok, last, err)
	}
	if err := srv.Reload(ctx, good); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.ConfigReloadSuccessful(ctx); err != nil || !ok {
		t.Errorf("after a good reload = %v %v", ok, err)
	}
}

func TestRealPersistenceAcrossRestart(t *testing.T) {
	ctx := context.Background()
	srv, c := startLinkerdLike(t, promtest.Options{Args: []string{"--storage.tsdb.retention.time=1h"}})
	waitSamples(t, c, `count_over_time(up{job="linkerd-proxy"}[1m])`, 2)
	first, err := c.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Proven {
		t.Fatalf("a first run cannot prove persistence: %+v", first)
	}

	srv = srv.Restart(t)
	c = newClient(t, srv.URL)
	ev, err := c.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Proven || ev.OldestSample.IsZero() || !ev.OldestSample.Before(ev.ProcessStart) || !ev.ProcessStart.After(first.ProcessStart) {
		t.Errorf("after a restart on the same data: %+v (first start %v)", ev, first.ProcessStart)
	}
	t.Logf("method: %s; reason: %s", ev.Method, ev.Reason)

	_, fresh := startLinkerdLike(t, promtest.Options{})
	ev, err = fresh.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Proven || !ev.OldestSample.IsZero() {
		t.Errorf("fresh data dir: %+v", ev)
	}
	if !slices.Contains(strings.Fields(ev.Reason), "first") {
		t.Errorf("reason %q does not say it may be a first run", ev.Reason)
	}
}

// waitSamples waits until promql (a single series) reaches at least n.
func waitSamples(t *testing.T, c *prom.Client, promql string, n float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v, found, err := c.ScalarQuery(context.Background(), promql, time.Time{})
		if err == nil && found && v >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not reach %v", promql, n)
}
