package release

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// fixtureChartDir is the project's stand-in for the real chart, used by e2e tests.
func fixtureChartDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(fixtures.RepoRoot(t), "e2e", "testdata", "charts", "prometheus")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		t.Fatalf("fixture chart %s is missing: %v", dir, err)
	}
	return dir
}

func loadFixtureChart(t *testing.T) *LoadedChart {
	t.Helper()
	lc, err := LoadChart(context.Background(), ChartSource{Chart: fixtureChartDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// renderDocs renders a chart client-side and decodes every object, keyed "Kind/name".
func renderDocs(t *testing.T, lc *LoadedChart, values map[string]any) map[string]map[string]any {
	t.Helper()
	manifest, err := render(context.Background(), lc, defaults.ReleaseName, "linkerd-viz", "v1.37.1", values)
	if err != nil {
		t.Fatal(err)
	}
	return docsByKey(t, manifest)
}

func docsByKey(t *testing.T, manifest string) map[string]map[string]any {
	t.Helper()
	docs, err := manifestDocs(manifest)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal(d, &m); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, d)
		}
		if m == nil {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		key := fmt.Sprintf("%v/%v", m["kind"], md["name"])
		if _, dup := out[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		out[key] = m
	}
	return out
}

// del removes a path from a decoded object; "*" walks every element of a list.
func del(v any, path ...string) {
	if len(path) == 0 {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		if len(path) == 1 {
			delete(t, path[0])
			return
		}
		del(t[path[0]], path[1:]...)
	case []any:
		if path[0] == "*" {
			for _, e := range t {
				del(e, path[1:]...)
			}
		}
	}
}

// normalizeReal drops what the fixture deliberately does not model: images, arguments,
// probes, resources and pod security settings (nothing runs in the test cluster).
func normalizeReal(kind string, obj map[string]any) {
	del(obj, "metadata", "annotations", "meta.helm.sh/release-name")
	if md, _ := obj["metadata"].(map[string]any); md != nil {
		if a, _ := md["annotations"].(map[string]any); len(a) == 0 {
			delete(md, "annotations")
		}
	}
	if kind != "Deployment" && kind != "StatefulSet" {
		return
	}
	pod := []string{"spec", "template", "spec"}
	for _, k := range []string{"securityContext", "dnsPolicy", "terminationGracePeriodSeconds", "hostNetwork"} {
		del(obj, append(slices.Clone(pod), k)...)
	}
	for _, k := range []string{"image", "imagePullPolicy", "args", "livenessProbe", "readinessProbe", "startupProbe", "resources", "securityContext"} {
		del(obj, append(slices.Clone(pod), "containers", "*", k)...)
	}
}

// stripInjected removes what the fixture adds as the stand-in proxy injector.
func stripInjected(obj map[string]any) {
	tmpl := []string{"spec", "template", "metadata"}
	for _, l := range []string{"linkerd.io/control-plane-ns", "linkerd.io/proxy-deployment", "linkerd.io/proxy-statefulset", "linkerd.io/workload-ns"} {
		del(obj, append(slices.Clone(tmpl), "labels", l)...)
	}
	del(obj, append(slices.Clone(tmpl), "annotations", "linkerd.io/proxy-version")...)
	spec, _ := obj["spec"].(map[string]any)
	podTmpl, _ := spec["template"].(map[string]any)
	podSpec, _ := podTmpl["spec"].(map[string]any)
	containers, _ := podSpec["containers"].([]any)
	podSpec["containers"] = slices.DeleteFunc(containers, func(c any) bool {
		m, _ := c.(map[string]any)
		return m["name"] == "linkerd-proxy"
	})
}

// parseConfigMapData decodes each file of the ConfigMap, so formatting does not matter.
func parseConfigMapData(t *testing.T, obj map[string]any) {
	t.Helper()
	data, _ := obj["data"].(map[string]any)
	for k, v := range data {
		s, ok := v.(string)
		if !ok || !strings.HasSuffix(k, ".yml") && k != "rules" && k != "alerts" {
			continue
		}
		var parsed any
		if err := yaml.Unmarshal([]byte(s), &parsed); err != nil {
			t.Fatalf("ConfigMap key %s is not YAML: %v", k, err)
		}
		data[k] = parsed
	}
}

// TestFixtureChartMatchesReference renders the fixture chart with the reference values
// and compares it, object by object, with what the real chart 29.27.0 rendered for them:
// the same kinds and names, and the same labels, annotations, ports, selectors, volumes,
// RBAC rules and Prometheus configuration. This keeps the e2e fixture honest.
func TestFixtureChartMatchesReference(t *testing.T) {
	values := fixtureYAMLMap(t, "prometheus-chart", "reference-values.yaml")
	got := renderDocs(t, loadFixtureChart(t), values)
	want := docsByKey(t, string(fixtures.Read(t, "prometheus-chart", "reference-rendered.yaml")))

	var gotKeys, wantKeys []string
	for k := range got {
		gotKeys = append(gotKeys, k)
	}
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Fatalf("the fixture renders %v, the real chart %v", gotKeys, wantKeys)
	}
	for _, key := range wantKeys {
		kind := strings.Split(key, "/")[0]
		g, w := got[key], want[key]
		normalizeReal(kind, g)
		normalizeReal(kind, w)
		if kind == "Deployment" {
			stripInjected(g)
		}
		if kind == "ConfigMap" {
			parseConfigMapData(t, g)
			parseConfigMapData(t, w)
		}
		if !reflect.DeepEqual(normalize(t, g), normalize(t, w)) {
			gy, _ := yaml.Marshal(g)
			wy, _ := yaml.Marshal(w)
			t.Errorf("%s differs from the real chart's.\nfixture:\n%s\nreal chart:\n%s", key, gy, wy)
		}
	}
}

// TestFixtureChartComparisonCanFail proves the comparison above notices a difference
// the fixture could drift into: the Service port.
func TestFixtureChartComparisonCanFail(t *testing.T) {
	values := fixtureYAMLMap(t, "prometheus-chart", "reference-values.yaml")
	values = helmvalues.Merge(values, map[string]any{"server": map[string]any{"service": map[string]any{"servicePort": 80}}})
	got := renderDocs(t, loadFixtureChart(t), values)["Service/prometheus-server"]
	want := docsByKey(t, string(fixtures.Read(t, "prometheus-chart", "reference-rendered.yaml")))["Service/prometheus-server"]
	if reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
		t.Fatal("a Service on port 80 compares equal to the reference's port 9090")
	}
}

// TestFixtureChartDefaultsAreReal: every default the fixture declares is the real
// chart's default (or empty where the real chart leaves the key unset), except the
// chart's own scrape jobs, of which it keeps one.
func TestFixtureChartDefaultsAreReal(t *testing.T) {
	lc := loadFixtureChart(t)
	realDefaults := fixtureYAMLMap(t, "prometheus-chart", "values.yaml")
	var leaves [][]string
	leafPaths(nil, lc.Chart.Values, &leaves)
	for _, p := range leaves {
		switch p[0] {
		case "testInjector", "scrapeConfigs":
			continue
		}
		fv, _ := helmvalues.Lookup(lc.Chart.Values, p...)
		rv, ok := helmvalues.Lookup(realDefaults, p...)
		if !ok {
			// Keys the real chart reads but only mentions in comments default to empty.
			if !isEmpty(fv) {
				t.Errorf("fixture default %s = %v does not exist in the real chart", pathString(p...), fv)
			}
			continue
		}
		if !reflect.DeepEqual(normalize(t, fv), normalize(t, rv)) {
			t.Errorf("fixture default %s = %v, the real chart's is %v", pathString(p...), fv, rv)
		}
	}
}

// TestFixtureChartStatefulSetMode checks the StatefulSet mode the e2e tests use against
// the real chart's templates: a headless Service with the server labels, claims from a
// volumeClaimTemplate with the keep annotation, no standalone PVC.
func TestFixtureChartStatefulSetMode(t *testing.T) {
	o := defaultOptions(t)
	o.StatefulSet = true
	docs := renderDocs(t, loadFixtureChart(t), mustValues(t, o))
	if _, ok := docs["PersistentVolumeClaim/prometheus-server"]; ok {
		t.Error("StatefulSet mode still renders the standalone PVC")
	}
	headless, ok := docs["Service/prometheus-server-headless"]
	if !ok {
		t.Fatalf("no headless Service; rendered %v", slices.Sorted(maps.Keys(docs)))
	}
	if ip, _ := helmvalues.Lookup(headless, "spec", "clusterIP"); ip != "None" {
		t.Errorf("headless Service clusterIP = %v", ip)
	}
	sts := docs["StatefulSet/prometheus-server"]
	if sts == nil {
		t.Fatal("no StatefulSet")
	}
	if sn, _ := helmvalues.Lookup(sts, "spec", "serviceName"); sn != "prometheus-server-headless" {
		t.Errorf("serviceName = %v", sn)
	}
	if p, _ := helmvalues.Lookup(sts, "spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"); p != "Retain" {
		t.Errorf("claims are not retained when the StatefulSet is deleted: %v", p)
	}
	tmpls, _ := helmvalues.Lookup(sts, "spec", "volumeClaimTemplates")
	list, _ := tmpls.([]any)
	if len(list) != 1 {
		t.Fatalf("volumeClaimTemplates = %v", tmpls)
	}
	tmpl := list[0].(map[string]any)
	if name, _ := helmvalues.Lookup(tmpl, "metadata", "name"); name != "storage-volume" {
		t.Errorf("claim template name = %v", name)
	}
	if keep, _ := helmvalues.Lookup(tmpl, "metadata", "annotations", KeepAnnotation); keep != keepValue {
		t.Errorf("claim template lacks the keep annotation: %v", keep)
	}
	if size, _ := helmvalues.Lookup(tmpl, "spec", "resources", "requests", "storage"); size != defaults.StorageSize {
		t.Errorf("claim size = %v", size)
	}
}

// TestFixtureChartRendersMeshmonValues: with meshmon's values the fixture renders the
// seven objects the SPEC names, with the Linkerd jobs in prometheus.yml.
func TestFixtureChartRendersMeshmonValues(t *testing.T) {
	docs := renderDocs(t, loadFixtureChart(t), mustValues(t, defaultOptions(t)))
	want := []string{
		"ClusterRole/linkerd-viz-prometheus-server", "ClusterRoleBinding/linkerd-viz-prometheus-server",
		"ConfigMap/prometheus-server", "Deployment/prometheus-server", "PersistentVolumeClaim/prometheus-server",
		"Service/prometheus-server", "ServiceAccount/prometheus-server",
	}
	if got := slices.Sorted(maps.Keys(docs)); !slices.Equal(got, want) {
		t.Fatalf("rendered %v, want %v", got, want)
	}
	cm := docs["ConfigMap/prometheus-server"]
	raw, _ := helmvalues.Lookup(cm, "data", "prometheus.yml")
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `json:"job_name"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(raw.(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, j := range cfg.ScrapeConfigs {
		jobs = append(jobs, j.JobName)
	}
	for _, want := range append([]string{scrape.JobPrometheus}, scrape.LinkerdJobNames()...) {
		if !slices.Contains(jobs, want) {
			t.Errorf("prometheus.yml lacks job %s: %v", want, jobs)
		}
	}
	if port, _ := helmvalues.Lookup(docs["Service/prometheus-server"], "spec", "ports"); fmt.Sprint(port) == "" || !strings.Contains(fmt.Sprint(port), "9090") {
		t.Errorf("Service ports = %v", port)
	}
}
