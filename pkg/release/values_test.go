package release

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/scrape"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureYAMLMap reads a single-document YAML fixture the way Helm reads values files.
func fixtureYAMLMap(t *testing.T, parts ...string) map[string]any {
	t.Helper()
	m, err := loader.LoadValues(bytes.NewReader(fixtures.Read(t, parts...)))
	if err != nil {
		t.Fatalf("parsing %s: %v", filepath.Join(parts...), err)
	}
	return m
}

// fixtureDocs splits a multi-document fixture and decodes each document into a map.
func fixtureDocs(t *testing.T, parts ...string) []map[string]any {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(fixtures.Read(t, parts...))))
	var docs []map[string]any
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

func findDoc(t *testing.T, docs []map[string]any, kind, name string) map[string]any {
	t.Helper()
	for _, d := range docs {
		md, _ := d["metadata"].(map[string]any)
		if d["kind"] == kind && md["name"] == name {
			return d
		}
	}
	t.Fatalf("no %s %s in fixture", kind, name)
	return nil
}

// fixtureParams are the scrape parameters of the Linkerd install in the fixtures.
func fixtureParams(t *testing.T) linkerd.Facts {
	t.Helper()
	var cm corev1.ConfigMap
	raw, _ := json.Marshal(findDoc(t, fixtureDocs(t, "linkerd", "control-plane.yaml"), "ConfigMap", linkerd.ConfigMapName))
	if err := json.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	p, err := linkerd.ParseConfig(&cm)
	if err != nil {
		t.Fatal(err)
	}
	vizCM := findDoc(t, fixtureDocs(t, "linkerd", "viz.yaml"), "ConfigMap", "prometheus-config")
	p.VizNamespace = vizCM["metadata"].(map[string]any)["namespace"].(string)
	return p
}

// fixtureChart loads the chart's metadata, defaults and schema the way Helm loads a chart.
func fixtureChart(t *testing.T) *chart.Chart {
	t.Helper()
	var files []*archive.BufferedFile
	for _, name := range []string{"Chart.yaml", "values.yaml", "values.schema.json"} {
		files = append(files, &archive.BufferedFile{Name: name, Data: fixtures.Read(t, "prometheus-chart", name)})
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		t.Fatalf("loading the chart fixture: %v", err)
	}
	return ch
}

// effectiveValues is what the chart's templates see: Helm's coalescing of values over the
// chart defaults, after Helm's own schema validation.
func effectiveValues(t *testing.T, values map[string]any) map[string]any {
	t.Helper()
	rv, err := chartutil.ToRenderValuesWithSchemaValidation(fixtureChart(t), values,
		common.ReleaseOptions{Name: defaults.ReleaseName, Namespace: "linkerd-viz", IsInstall: true}, nil, false)
	if err != nil {
		t.Fatalf("Helm rejects the values: %v", err)
	}
	v, err := rv.Table("Values")
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// normalize gives values the types a YAML or JSON parser produces.
func normalize(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func defaultOptions(t *testing.T) ValuesOptions {
	return ValuesOptions{Scrape: fixtureParams(t)}
}

func fullOptions() ValuesOptions {
	return ValuesOptions{
		ReleaseName:             "metrics",
		Namespace:               "observability",
		StorageSize:             "100Gi",
		StorageClass:            "fast-ssd",
		StatefulSet:             true,
		Retention:               "90d",
		RetentionSize:           "80GB",
		ScrapeInterval:          "30s",
		ScrapeTimeout:           "20s",
		EvaluationInterval:      "1m",
		ClusterName:             "eu-west-1",
		RemoteWriteURLs:         []string{"http://mimir.mimir.svc:8080/api/v1/push", "https://thanos.example.com/api/v1/receive"},
		ServiceAccountName:      "mesh-prometheus",
		ClusterRoleNameOverride: "observability-mesh-prometheus",
		Scrape: linkerd.Facts{
			LinkerdNamespace:   "mesh-system",
			VizNamespace:       "mesh-viz",
			ClusterDomain:      "corp.example",
			TrustDomain:        "mesh.corp.example",
			ProxyContainerName: "mesh-sidecar",
		},
	}
}

func mustValues(t *testing.T, o ValuesOptions) map[string]any {
	t.Helper()
	v, warnings, err := Values(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Fatalf("unexpected warnings: %v", warnings)
	}
	return v
}

func TestValuesGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		opts ValuesOptions
	}{
		{"values-default.golden.yaml", defaultOptions(t)},
		{"values-full.golden.yaml", fullOptions()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := RenderValuesYAML(mustValues(t, tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			fixtures.Golden(t, filepath.Join("testdata", tc.file), got, *update)
		})
	}
}

func TestValuesUseTheScrapeJobs(t *testing.T) {
	o := fullOptions()
	v := mustValues(t, o)
	jobs, _ := helmvalues.Lookup(v, "serverFiles", "prometheus.yml", "scrape_configs")
	if !reflect.DeepEqual(jobs, normalize(t, scrape.Jobs(o.Scrape))) {
		t.Errorf("scrape_configs are not scrape.Jobs(%+v)", o.Scrape)
	}
	if _, ok := helmvalues.Lookup(v, "server", "scrape_configs"); ok {
		t.Error("jobs were put under server:, where the chart ignores them")
	}
	if _, ok := helmvalues.Lookup(v, "serverFiles", "prometheus.yml", "global"); ok {
		t.Error("global: inside serverFiles.prometheus.yml duplicates the chart's own")
	}
}

// TestValuesOptionsReachTheValues checks each option against the values key the chart reads.
func TestValuesOptionsReachTheValues(t *testing.T) {
	o := fullOptions()
	v := mustValues(t, o)
	want := []struct {
		keys []string
		val  any
	}{
		{[]string{"server", "persistentVolume", "size"}, o.StorageSize},
		{[]string{"server", "persistentVolume", "storageClass"}, o.StorageClass},
		{[]string{"server", "persistentVolume", "enabled"}, true},
		{[]string{"server", "persistentVolume", "annotations", "helm.sh/resource-policy"}, "keep"},
		{[]string{"server", "persistentVolume", "accessModes"}, []any{"ReadWriteOnce"}},
		{[]string{"server", "statefulSet", "enabled"}, true},
		{[]string{"server", "retention"}, o.Retention},
		{[]string{"server", "retentionSize"}, o.RetentionSize},
		{[]string{"server", "global", "scrape_interval"}, o.ScrapeInterval},
		{[]string{"server", "global", "scrape_timeout"}, o.ScrapeTimeout},
		{[]string{"server", "global", "evaluation_interval"}, o.EvaluationInterval},
		{[]string{"server", "global", "external_labels", "cluster"}, o.ClusterName},
		{[]string{"server", "service", "servicePort"}, ServicePort},
		{[]string{"server", "podAnnotations", "linkerd.io/inject"}, "enabled"},
		{[]string{"server", "clusterRoleNameOverride"}, o.ClusterRoleNameOverride},
		{[]string{"serviceAccounts", "server", "name"}, o.ServiceAccountName},
	}
	for _, w := range want {
		got, ok := helmvalues.Lookup(v, w.keys...)
		if !ok || !reflect.DeepEqual(got, w.val) {
			t.Errorf("%s = %v, want %v", pathString(w.keys...), got, w.val)
		}
	}
	rw, _ := helmvalues.Lookup(v, "server", "remoteWrite")
	wantRW := []any{map[string]any{"url": o.RemoteWriteURLs[0]}, map[string]any{"url": o.RemoteWriteURLs[1]}}
	if !reflect.DeepEqual(rw, wantRW) {
		t.Errorf("server.remoteWrite = %v, want %v", rw, wantRW)
	}
	for _, sub := range subcharts() {
		if got, _ := helmvalues.Lookup(v, sub, "enabled"); got != false {
			t.Errorf("%s.enabled = %v, want false", sub, got)
		}
	}
	if sc, ok := v["scrapeConfigs"]; !ok || sc != nil {
		t.Errorf("scrapeConfigs = %v (present %v), want an explicit null", sc, ok)
	}
}

func TestValuesOptionalKeysOmitted(t *testing.T) {
	v := mustValues(t, defaultOptions(t))
	for _, keys := range [][]string{
		{"server", "persistentVolume", "storageClass"},
		{"server", "persistentVolume", "existingClaim"},
		{"server", "global", "external_labels"},
		{"server", "remoteWrite"},
	} {
		if got, ok := helmvalues.Lookup(v, keys...); ok {
			t.Errorf("%s = %v, want it left to the chart", pathString(keys...), got)
		}
	}
}

func TestValuesStorageVariants(t *testing.T) {
	o := defaultOptions(t)
	o.StorageClass = "-"
	o.ExistingClaim = "old-prometheus-data"
	v := mustValues(t, o)
	if got, _ := helmvalues.Lookup(v, "server", "persistentVolume", "storageClass"); got != "-" {
		t.Errorf("storageClass = %v, want \"-\" (the chart's spelling of storageClassName: \"\")", got)
	}
	if got, _ := helmvalues.Lookup(v, "server", "persistentVolume", "existingClaim"); got != o.ExistingClaim {
		t.Errorf("existingClaim = %v", got)
	}
}

func TestValuesNamespaceDefaultsToViz(t *testing.T) {
	o := defaultOptions(t)
	o.Scrape.VizNamespace = "mesh-viz"
	r, _, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.Namespace != "mesh-viz" || r.ReleaseName != defaults.ReleaseName {
		t.Errorf("resolved release %s/%s, want %s/mesh-viz", r.Namespace, r.ReleaseName, defaults.ReleaseName)
	}
}

// TestNullThroughHelm feeds merged values to Helm's own coalescing with the chart's
// defaults: null must remove the chart's default jobs and any key a user nulls, while {}
// would keep the default jobs.
func TestNullThroughHelm(t *testing.T) {
	ours := mustValues(t, defaultOptions(t))
	rendered, err := RenderValuesYAML(ours)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rendered, []byte("\nscrapeConfigs: null\n")) {
		t.Fatalf("rendered values lost the explicit null:\n%s", rendered)
	}
	reparsed, err := loader.LoadValues(bytes.NewReader(rendered))
	if err != nil {
		t.Fatal(err)
	}

	user := map[string]any{"server": map[string]any{"retention": nil}}
	eff := effectiveValues(t, helmvalues.Merge(reparsed, user))
	if _, ok := eff["scrapeConfigs"]; ok {
		t.Errorf("scrapeConfigs survived Helm's coalescing: %v", eff["scrapeConfigs"])
	}
	if _, ok := helmvalues.Lookup(eff, "server", "retention"); ok {
		t.Error("a user's null did not remove server.retention and its chart default")
	}
	if got, _ := helmvalues.Lookup(eff, "server", "persistentVolume", "mountPath"); got != "/data" {
		t.Errorf("chart defaults were not merged under ours: mountPath = %v", got)
	}
	if got, _ := helmvalues.Lookup(eff, "serverFiles", "prometheus.yml", "rule_files"); got == nil {
		t.Error("the chart's rule_files next to our scrape_configs were lost")
	}
	if got, _ := helmvalues.Lookup(eff, "server", "service", "servicePort"); got != nil {
		if n, _ := helmvalues.Int(got); n != ServicePort {
			t.Errorf("effective servicePort = %v", got)
		}
	}

	emptied := helmvalues.Merge(reparsed, map[string]any{"scrapeConfigs": map[string]any{}})
	jobs, _ := helmvalues.Lookup(effectiveValues(t, emptied), "scrapeConfigs")
	if m, _ := jobs.(map[string]any); len(m) != 10 {
		t.Errorf("with scrapeConfigs: {} the chart keeps %d default jobs, expected its 10; null is what removes them", len(m))
	}
}

func TestRenderValuesYAMLDeterministic(t *testing.T) {
	v := mustValues(t, fullOptions())
	first, err := RenderValuesYAML(v)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := RenderValuesYAML(mustValues(t, fullOptions()))
		if !bytes.Equal(first, again) {
			t.Fatal("rendering is not deterministic")
		}
	}
	var top []string
	for _, line := range strings.Split(string(first), "\n") {
		if line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "-") {
			top = append(top, strings.SplitN(line, ":", 2)[0])
		}
	}
	if !slices.IsSorted(top) {
		t.Errorf("top-level keys are not sorted: %v", top)
	}
}

// TestReferenceValues: everything the hand-written reference values set (the seed plus the
// chart-28 fixes), meshmon sets to the same value, and it scrapes at least the same jobs.
func TestReferenceValues(t *testing.T) {
	ref := fixtureYAMLMap(t, "prometheus-chart", "reference-values.yaml")
	refServer := ref["server"].(map[string]any)
	refGlobal := refServer["global"].(map[string]any)
	o := ValuesOptions{
		ReleaseName:        defaults.ReleaseName,
		Namespace:          "linkerd-viz",
		StorageSize:        refServer["persistentVolume"].(map[string]any)["size"].(string),
		ScrapeInterval:     refGlobal["scrape_interval"].(string),
		ScrapeTimeout:      refGlobal["scrape_timeout"].(string),
		EvaluationInterval: refGlobal["evaluation_interval"].(string),
		Scrape:             fixtureParams(t),
	}
	ours := normalize(t, mustValues(t, o)).(map[string]any)
	refNorm := normalize(t, ref).(map[string]any)

	var walk func(keys []string, refV any)
	walk = func(keys []string, refV any) {
		if pathString(keys...) == `serverFiles."prometheus.yml".scrape_configs` {
			return
		}
		if m, ok := refV.(map[string]any); ok && len(m) > 0 {
			for k, v := range m {
				walk(append(slices.Clone(keys), k), v)
			}
			return
		}
		parent, _ := helmvalues.Lookup(ours, keys[:len(keys)-1]...)
		pm, _ := parent.(map[string]any)
		got, present := pm[keys[len(keys)-1]]
		if !present || !reflect.DeepEqual(got, refV) {
			t.Errorf("%s: reference sets %v, meshmon %v (present %v)", pathString(keys...), refV, got, present)
		}
	}
	walk(nil, refNorm)

	refJobs, _ := helmvalues.Lookup(refNorm, "serverFiles", "prometheus.yml", "scrape_configs")
	ourJobs, _ := helmvalues.Lookup(ours, "serverFiles", "prometheus.yml", "scrape_configs")
	var ourNames []string
	for _, n := range jobNames(ourJobs) {
		ourNames = append(ourNames, scrape.CanonicalJobName(n))
	}
	refNames := jobNames(refJobs)
	if len(refNames) == 0 {
		t.Fatal("the reference values have no jobs")
	}
	for _, n := range refNames {
		if !slices.Contains(ourNames, scrape.CanonicalJobName(n)) {
			t.Errorf("the reference scrapes job %q, meshmon does not (%v)", n, ourNames)
		}
	}
}
