package viz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmfake "helm.sh/helm/v4/pkg/kube/fake"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/change"
	"github.com/meshmon/meshmon/pkg/fixtures"
)

const realVizVersion = "2026.8.3"

// secretHelm is a Helm configuration storing releases as a cluster does, encoded in
// Secrets (of its own fake clientset): unlike the memory driver, that drops the subcharts.
func secretHelm(t *testing.T) *action.Configuration {
	t.Helper()
	kv, err := common.ParseKubeVersion("v1.37.1")
	if err != nil {
		t.Fatal(err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(driver.NewSecrets(kubefake.NewClientset().CoreV1().Secrets("viz-helm")))
	cfg.KubeClient = &helmfake.PrintingKubeClient{Out: io.Discard}
	cfg.Capabilities = caps
	return cfg
}

// installRealViz installs the real linkerd-viz chart (with its partials library chart).
func installRealViz(t *testing.T, cfg *action.Configuration, vals map[string]any) *releasev1.Release {
	t.Helper()
	ch, err := loader.Load(fixtures.Path(t, "charts", "linkerd-viz-"+realVizVersion+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = "linkerd-viz", "viz-helm"
	r, err := in.Run(ch, vals)
	if err != nil {
		t.Fatalf("installing the real linkerd-viz chart: %v", err)
	}
	return r.(*releasev1.Release)
}

// vizRepo serves a Helm chart repository on 127.0.0.1 with the real linkerd-viz package;
// hits counts the requests. Closing it plays a repository that is gone.
func vizRepo(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	pkg := fixtures.Read(t, "charts", "linkerd-viz-"+realVizVersion+".tgz")
	sum := sha256.Sum256(pkg)
	index := fmt.Sprintf(`apiVersion: v1
entries:
  linkerd-viz:
  - apiVersion: v1
    name: linkerd-viz
    version: %s
    appVersion: edge-26.8.3
    urls: [linkerd-viz-%s.tgz]
    digest: %s
`, realVizVersion, realVizVersion, hex.EncodeToString(sum[:]))
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/index.yaml":
			_, _ = io.WriteString(w, index)
		case "/linkerd-viz-" + realVizVersion + ".tgz":
			_, _ = w.Write(pkg)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// The bug: upgrading the real chart with Helm's stored copy fails on the partials library.
func TestUpgradeFromReleaseStorageFailsOnRealVizChart(t *testing.T) {
	cfg := secretHelm(t)
	installRealViz(t, cfg, nil)
	stored := lastRevision(t, cfg, "linkerd-viz")
	if n := len(stored.Chart.Dependencies()); n != 0 {
		t.Fatalf("release storage kept %d subcharts; the premise of this test no longer holds", n)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace, up.ReuseValues = "viz-helm", true
	_, err := up.Run("linkerd-viz", stored.Chart, map[string]any{valuePrometheusURL: newURL})
	if err == nil || !strings.Contains(err.Error(), "partials") {
		t.Fatalf("upgrade with the stored chart: %v, want a failure on the partials templates", err)
	}
}

// By default the chart of the deployed version comes from Linkerd's repository of its
// channel; configure and restore each make one revision from it.
func TestConfigureRestoreRealVizChartFromRepository(t *testing.T) {
	ctx := context.Background()
	cfg := secretHelm(t)
	orig := installRealViz(t, cfg, map[string]any{"metricsAPI": map[string]any{"logLevel": "debug"}})
	srv, hits := vizRepo(t)
	kc := kubefake.NewClientset(helmShaped(t, "viz-helm", true)...)
	c := Clients{Kube: kc, Helm: helmFactory(cfg)}
	chart := ChartOptions{EdgeRepo: srv.URL, StableRepo: "http://127.0.0.1:1/not-this-one", CacheDir: t.TempDir()}
	opts := Options{Namespace: "viz-helm", PrometheusURL: newURL, Chart: chart}

	plan, err := Plan(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := detailOf(plan, "HelmRelease", "linkerd-viz"); !strings.Contains(d, "chart linkerd-viz-"+realVizVersion+" from "+srv.URL) {
		t.Errorf("the dry run does not name the chart source: %q", d)
	}
	if len(writes(kc)) != 0 || lastRevision(t, cfg, "linkerd-viz").Version != 1 {
		t.Errorf("the dry run wrote: %v", writes(kc))
	}

	if _, err := Configure(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	rel := lastRevision(t, cfg, "linkerd-viz")
	if rel.Version != 2 || rel.Chart.Metadata.Version != realVizVersion {
		t.Fatalf("after configure: revision %d of chart %s", rel.Version, rel.Chart.Metadata.Version)
	}
	objs := manifestObjects(rel.Manifest)
	if !strings.Contains(objs["Deployment/metrics-api"], "-prometheus-url="+newURL) {
		t.Errorf("the manifest does not point metrics-api at %s:\n%s", newURL, objs["Deployment/metrics-api"])
	}
	if _, ok := objs["Deployment/prometheus"]; ok {
		t.Error("the manifest still has the bundled Prometheus")
	}
	if rel.Config[valuePrometheusURL] != newURL {
		t.Errorf("values after configure: %v", rel.Config)
	}
	fetched := hits.Load()

	if _, err := Restore(ctx, c, RestoreOptions{Namespace: "viz-helm", Chart: chart}); err != nil {
		t.Fatal(err)
	}
	rel = lastRevision(t, cfg, "linkerd-viz")
	if rel.Version != 3 {
		t.Errorf("revision after restore = %d, want 3", rel.Version)
	}
	if d := jsonDiff(t, rel.Config, orig.Config); len(d) > 0 {
		t.Errorf("values after restore differ from the original:\n%s", strings.Join(d, "\n"))
	}
	// The chart makes new webhook certificates on every render; the objects and
	// metrics-api must be the original ones.
	before, after := manifestObjects(orig.Manifest), manifestObjects(rel.Manifest)
	if d := jsonDiff(t, keys(before), keys(after)); len(d) > 0 {
		t.Errorf("objects after restore differ from the original ones:\n%s", strings.Join(d, "\n"))
	}
	if before["Deployment/metrics-api"] != after["Deployment/metrics-api"] || !strings.Contains(before["Deployment/metrics-api"], "-prometheus-url=http://prometheus.viz-helm.svc") {
		t.Errorf("metrics-api after restore:\n%s\nbefore:\n%s", after["Deployment/metrics-api"], before["Deployment/metrics-api"])
	}
	if hits.Load() != fetched {
		t.Errorf("restore downloaded the chart again (%d requests, %d before): the cached copy should serve", hits.Load(), fetched)
	}
}

// A repository that cannot serve the chart stops configure before its first write, with
// the helm command to run instead and what --viz-chart takes.
func TestConfigureRealVizChartUnavailable(t *testing.T) {
	ctx := context.Background()
	cfg := secretHelm(t)
	installRealViz(t, cfg, nil)
	srv, _ := vizRepo(t)
	srv.Close()
	kc := kubefake.NewClientset(helmShaped(t, "viz-helm", true)...)
	c := Clients{Kube: kc, Helm: helmFactory(cfg)}
	opts := Options{Namespace: "viz-helm", PrometheusURL: newURL, Chart: ChartOptions{EdgeRepo: srv.URL, CacheDir: t.TempDir()}}
	changes, err := Configure(ctx, c, opts)
	if !errors.Is(err, ErrChartUnavailable) {
		t.Fatalf("Configure: %v, want ErrChartUnavailable", err)
	}
	wantCmd := "helm upgrade linkerd-viz linkerd-viz --repo " + srv.URL + " --version " + realVizVersion +
		" --namespace viz-helm --reuse-values --set prometheusUrl=" + newURL + " --set prometheus.enabled=false"
	for _, want := range []string{wantCmd, "--viz-chart", "a packaged .tgz", "Nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// --chart is meshmon's own release's flag; viz's is --viz-chart.
	if strings.Contains(err.Error(), "--chart") {
		t.Errorf("error names --chart, which is not viz's flag:\n%v", err)
	}
	if len(changes) != 0 || len(writes(kc)) != 0 || lastRevision(t, cfg, "linkerd-viz").Version != 1 {
		t.Errorf("something was written: changes %+v, writes %v", changes, writes(kc))
	}
}

// --viz-chart replaces the repository; a chart of another version is refused unless
// --viz-chart-version names it.
func TestVizChartOverrideAndVersion(t *testing.T) {
	ctx := context.Background()
	cfg := secretHelm(t)
	installRealViz(t, cfg, nil)
	c := Clients{Kube: kubefake.NewClientset(helmShaped(t, "viz-helm", true)...), Helm: helmFactory(cfg)}

	// A later version of the chart: the real one with only its version changed.
	dir := t.TempDir()
	ch, err := loader.Load(fixtures.Path(t, "charts", "linkerd-viz-"+realVizVersion+".tgz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ch.Raw {
		data := f.Data
		if f.Name == "Chart.yaml" {
			data = []byte(strings.Replace(string(data), "version: "+realVizVersion, "version: 2026.9.1", 1))
		}
		p := filepath.Join(dir, "linkerd-viz", f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	later := filepath.Join(dir, "linkerd-viz")

	opts := Options{Namespace: "viz-helm", PrometheusURL: newURL, Chart: ChartOptions{Chart: later, CacheDir: t.TempDir()}}
	_, err = Configure(ctx, c, opts)
	if !errors.Is(err, ErrChartUnavailable) || !strings.Contains(err.Error(), "not the requested "+realVizVersion) || !strings.Contains(err.Error(), "--viz-chart-version") {
		t.Fatalf("a chart of another version: %v, want a refusal naming --viz-chart-version", err)
	}
	if lastRevision(t, cfg, "linkerd-viz").Version != 1 {
		t.Fatal("the refused chart was installed")
	}
	opts.Chart.Version = "2026.9.1"
	if _, err := Configure(ctx, c, opts); err != nil {
		t.Fatal(err)
	}
	if rel := lastRevision(t, cfg, "linkerd-viz"); rel.Version != 2 || rel.Chart.Metadata.Version != "2026.9.1" {
		t.Errorf("--viz-chart-version: revision %d of chart %s", rel.Version, rel.Chart.Metadata.Version)
	}
}

func TestChannelRepository(t *testing.T) {
	o := ChartOptions{EdgeRepo: "http://127.0.0.1:1/edge", StableRepo: "http://127.0.0.1:1/stable"}
	for _, tc := range []struct{ app, version, want string }{
		{"edge-26.8.3", "2026.8.3", o.EdgeRepo},
		{"", "2025.1.2", o.EdgeRepo},
		{"stable-2.14.10", "30.12.11", o.StableRepo},
	} {
		if got := o.repoFor(releaseOf(tc.app, tc.version)); got != tc.want {
			t.Errorf("%s/%s: %s, want %s", tc.app, tc.version, got, tc.want)
		}
	}
	if got := (ChartOptions{}).repoFor(releaseOf("edge-26.8.3", "2026.8.3")); got != "https://helm.linkerd.io/edge" {
		t.Errorf("default edge repository %s", got)
	}
}

// manifestObjects splits a rendered manifest into its objects, keyed Kind/name.
func manifestObjects(manifest string) map[string]string {
	out := map[string]string{}
	for _, doc := range strings.Split(manifest, "\n---") {
		var kind, name string
		inMeta := false
		for _, line := range strings.Split(doc, "\n") {
			switch {
			case strings.HasPrefix(line, "kind: "):
				kind = strings.TrimPrefix(line, "kind: ")
			case line == "metadata:":
				inMeta = true
			case inMeta && strings.HasPrefix(line, "  name: ") && name == "":
				name = strings.TrimPrefix(line, "  name: ")
			case inMeta && line != "" && !strings.HasPrefix(line, " "):
				inMeta = false
			}
		}
		if kind != "" {
			out[kind+"/"+name] = doc
		}
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func detailOf(cs change.Changes, kind, name string) string {
	for _, c := range cs {
		if c.Kind == kind && c.Name == name {
			return c.Detail
		}
	}
	return ""
}

func releaseOf(appVersion, version string) *releasev1.Release {
	return &releasev1.Release{Chart: &chart.Chart{Metadata: &chart.Metadata{Name: ChartName, AppVersion: appVersion, Version: version}}}
}

// A --viz-chart path that does not exist is refused before any write, with viz's flag named.
func TestVizChartMissingPath(t *testing.T) {
	ctx := context.Background()
	cfg := secretHelm(t)
	installRealViz(t, cfg, nil)
	kc := kubefake.NewClientset(helmShaped(t, "viz-helm", true)...)
	c := Clients{Kube: kc, Helm: helmFactory(cfg)}
	missing := filepath.Join(t.TempDir(), "linkerd-viz-"+realVizVersion+".tgz")
	opts := Options{Namespace: "viz-helm", PrometheusURL: newURL, Chart: ChartOptions{Chart: missing, CacheDir: t.TempDir()}}
	_, err := Configure(ctx, c, opts)
	if !errors.Is(err, ErrChartUnavailable) || !strings.Contains(err.Error(), "--viz-chart takes a chart directory") {
		t.Fatalf("Configure with a missing --viz-chart: %v, want ErrChartUnavailable saying what --viz-chart takes", err)
	}
	if strings.Contains(err.Error(), "--chart") {
		t.Errorf("error names --chart, which is not viz's flag:\n%v", err)
	}
	if len(writes(kc)) != 0 || lastRevision(t, cfg, "linkerd-viz").Version != 1 {
		t.Errorf("something was written: %v", writes(kc))
	}
}

// install's preflight loads the chart a Helm-installed viz would be upgraded with: one that
// cannot be had is reported with the helm command, one that can passes, and nothing is
// written either way.
func TestCheckChartBeforeAnyWrite(t *testing.T) {
	ctx := context.Background()
	cfg := secretHelm(t)
	installRealViz(t, cfg, nil)
	kc := kubefake.NewClientset(helmShaped(t, "viz-helm", true)...)
	c := Clients{Kube: kc, Helm: helmFactory(cfg)}
	in, err := Detect(ctx, c, "viz-helm")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := vizRepo(t)
	if err := CheckChart(ctx, c, in, ChartOptions{EdgeRepo: srv.URL, CacheDir: t.TempDir()}, newURL); err != nil {
		t.Errorf("the chart is in the repository, yet: %v", err)
	}
	srv.Close()
	err = CheckChart(ctx, c, in, ChartOptions{EdgeRepo: srv.URL, CacheDir: t.TempDir()}, newURL)
	if !errors.Is(err, ErrChartUnavailable) || !strings.Contains(err.Error(), "--set prometheusUrl="+newURL) {
		t.Errorf("CheckChart with the repository gone: %v, want ErrChartUnavailable with the helm command", err)
	}
	if len(writes(kc)) != 0 || lastRevision(t, cfg, "linkerd-viz").Version != 1 {
		t.Errorf("CheckChart wrote: %v", writes(kc))
	}
	if err := CheckChart(ctx, c, Install{Method: MethodCLI}, ChartOptions{EdgeRepo: srv.URL}, newURL); err != nil {
		t.Errorf("a CLI-installed viz needs no chart: %v", err)
	}
}
