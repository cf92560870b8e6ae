package release

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/big"
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
	"k8s.io/apimachinery/pkg/api/resource"
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

// TestServerFullname compares with the names chart 29 rendered in reference-rendered.yaml
// and with the chart's naming rule for releases not containing "prometheus".
func TestServerFullname(t *testing.T) {
	rendered := fixtureDocs(t, "prometheus-chart", "reference-rendered.yaml")
	var saName, deployName string
	for _, d := range rendered {
		md, _ := d["metadata"].(map[string]any)
		switch d["kind"] {
		case "ServiceAccount":
			saName, _ = md["name"].(string)
		case "Deployment":
			deployName, _ = md["name"].(string)
		}
	}
	if got := ServerFullname(defaults.ReleaseName); got != saName || got != deployName {
		t.Errorf("ServerFullname(%q) = %q; chart rendered ServiceAccount %q, Deployment %q", defaults.ReleaseName, got, saName, deployName)
	}
	tests := map[string]string{
		"metrics":       "metrics-prometheus-server",
		"my-prometheus": "my-prometheus-server",
		// Truncated to 63 characters, then a dangling "-" dropped, as the chart does.
		strings.Repeat("a", 53):                 strings.Repeat("a", 53) + "-prometheu",
		strings.Repeat("b", 51):                 strings.Repeat("b", 51) + "-prometheus",
		strings.Repeat("c", 44) + "-prometheus": strings.Repeat("c", 44) + "-prometheus-server",
	}
	for release, want := range tests {
		got := ServerFullname(release)
		if got != want {
			t.Errorf("ServerFullname(%q) = %q, want %q", release, got, want)
		}
		if len(got) > 63 || strings.HasSuffix(got, "-") {
			t.Errorf("ServerFullname(%q) = %q is not a valid name", release, got)
		}
	}
	r, _, err := defaultOptions(t).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.ServiceAccountName != saName {
		t.Errorf("default ServiceAccountName = %q, chart default is %q", r.ServiceAccountName, saName)
	}
}

func TestClusterRoleNameUnique(t *testing.T) {
	resolve := func(ns, release string) string {
		o := defaultOptions(t)
		o.Namespace, o.ReleaseName = ns, release
		r, _, err := o.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		return r.ClusterRoleNameOverride
	}
	names := map[string]bool{}
	for _, c := range [][2]string{
		{"linkerd-viz", "prometheus"},
		{"monitoring", "prometheus"},
		{"linkerd-viz", "metrics"},
		{strings.Repeat("n", 60), "prometheus"},
		{strings.Repeat("n", 60) + "x", "prometheus"},
	} {
		name := resolve(c[0], c[1])
		if len(name) > 63 || strings.HasSuffix(name, "-") {
			t.Errorf("cluster role name %q for %s/%s is not a valid name", name, c[0], c[1])
		}
		if names[name] {
			t.Errorf("cluster role name %q is shared by two releases", name)
		}
		names[name] = true
	}
	if got := ServerFullname("prometheus"); names[got] {
		t.Errorf("a default cluster role name equals the chart's own default %q", got)
	}
}

func TestRetentionSizeDefault(t *testing.T) {
	tests := map[string]string{
		"20Gi":  "18GB",
		"10Gi":  "9GB",
		"100Gi": "90GB",
		"8Gi":   "7372MB",
		"1Ti":   "921GB",
		"2Gi":   "1843MB",
		"20G":   "17166MB",
		"1Mi":   "921KB",
	}
	for size, want := range tests {
		got := retentionSizeFor(resource.MustParse(size))
		if got != want {
			t.Errorf("retention size for %s = %s, want %s", size, got, want)
		}
		bytes, err := parseRetentionSize(got)
		if err != nil {
			t.Fatalf("%s does not parse back: %v", got, err)
		}
		vol := quantityBytes(resource.MustParse(size))
		ratio, _ := new(big.Rat).SetFrac(bytes, vol).Float64()
		if ratio > 0.90 || ratio < 0.89 {
			t.Errorf("retention size %s is %.4f of the %s volume, want 89–90%%", got, ratio, size)
		}
	}
	r, _, err := defaultOptions(t).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.RetentionSize != "18GB" {
		t.Errorf("default retention size = %s, want 18GB (90%% of %s)", r.RetentionSize, defaults.StorageSize)
	}
}

func TestParseRetentionSize(t *testing.T) {
	for s, want := range map[string]int64{"512MB": 512 << 20, "1.5GB": 3 << 29} {
		got, err := parseRetentionSize(s)
		if err != nil || got.Int64() != want {
			t.Errorf("parseRetentionSize(%q) = %v, %v; want %d", s, got, err, want)
		}
	}
	for s, want := range map[string]string{"18G": "is invalid", "0GB": "larger than zero", "0.0001B": "larger than zero"} {
		if _, err := parseRetentionSize(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRetentionSize(%q) = %v, want an error saying %q", s, err, want)
		}
	}
}

func TestResolveWarnings(t *testing.T) {
	o := defaultOptions(t)
	o.StorageSize = "20Gi"
	o.RetentionSize = "21GB"
	_, w, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || w[0].Path != "server.retentionSize" || !strings.Contains(w[0].Problem, "more than the 20Gi volume") {
		t.Errorf("warnings = %v, want one about the retention size exceeding the volume", w)
	}
	o.RetentionSize = "20GB"
	if _, w, _ := o.Resolve(); len(w) != 0 {
		t.Errorf("a retention size equal to the volume warned: %v", w)
	}
	o.RetentionSize = "0"
	r, w, err := o.Resolve()
	if err != nil || len(w) != 0 || r.RetentionSize != "" {
		t.Errorf("RetentionSize 0 resolved to %q, %v, %v; want size-based retention off", r.RetentionSize, w, err)
	}
}

func TestResolveTimeoutFollowsShortInterval(t *testing.T) {
	o := defaultOptions(t)
	o.ScrapeInterval = "5s"
	r, _, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.ScrapeTimeout != "5s" {
		t.Errorf("timeout = %s for a 5s interval, want 5s", r.ScrapeTimeout)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*ValuesOptions)
		want   string
	}{
		{"storage size with lower-case unit", func(o *ValuesOptions) { o.StorageSize = "20gb" }, `storage size "20gb" is not a Kubernetes quantity`},
		{"negative storage size", func(o *ValuesOptions) { o.StorageSize = "-1Gi" }, `storage size "-1Gi" is too small`},
		{"zero storage size", func(o *ValuesOptions) { o.StorageSize = "0" }, `storage size "0" is too small`},
		{"retention in words", func(o *ValuesOptions) { o.Retention = "15 days" }, `retention "15 days" is not a Prometheus duration`},
		{"zero retention", func(o *ValuesOptions) { o.Retention = "0" }, `retention "0" must be longer than zero`},
		{"interval without unit", func(o *ValuesOptions) { o.ScrapeInterval = "10" }, `scrape interval "10" is not a Prometheus duration`},
		{"units out of order", func(o *ValuesOptions) { o.EvaluationInterval = "30s1m" }, `evaluation interval "30s1m"`},
		{"timeout over interval", func(o *ValuesOptions) { o.ScrapeInterval, o.ScrapeTimeout = "10s", "15s" }, "scrape timeout 15s is longer than the scrape interval 10s"},
		{"bad retention size", func(o *ValuesOptions) { o.RetentionSize = "18gb" }, `retention size "18gb" is invalid`},
		{"remote write not http", func(o *ValuesOptions) { o.RemoteWriteURLs = []string{"ftp://x/y"} }, `remote-write URL "ftp://x/y" is invalid`},
		{"remote write relative", func(o *ValuesOptions) { o.RemoteWriteURLs = []string{"mimir/api/v1/push"} }, `remote-write URL "mimir/api/v1/push" is invalid`},
		{"existing claim with StatefulSet", func(o *ValuesOptions) { o.ExistingClaim, o.StatefulSet = "data", true }, "existing claim cannot be used with a StatefulSet"},
		{"release name", func(o *ValuesOptions) { o.ReleaseName = "Prometheus" }, `release name "Prometheus" is invalid`},
		{"long release name", func(o *ValuesOptions) { o.ReleaseName = strings.Repeat("p", 54) }, "at most 53 characters"},
		{"storage class", func(o *ValuesOptions) { o.StorageClass = "Fast SSD" }, `storage class "Fast SSD" is invalid`},
		{"cluster role name", func(o *ValuesOptions) { o.ClusterRoleNameOverride = strings.Repeat("r", 64) }, "cluster role name"},
		{"scrape params", func(o *ValuesOptions) { o.Scrape.ProxyContainerName = "" }, "proxy container name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions(t)
			tt.modify(&o)
			_, _, err := Values(o)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	o := defaultOptions(t)
	o.StorageSize, o.Retention = "20gb", "forever"
	_, _, err := Values(o)
	if err == nil || !strings.Contains(err.Error(), "storage size") || !strings.Contains(err.Error(), "retention") {
		t.Errorf("error %v does not report both problems", err)
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

func TestInvariantsCleanForMeshmonValues(t *testing.T) {
	for _, o := range []ValuesOptions{defaultOptions(t), fullOptions()} {
		v := mustValues(t, o)
		if w := Invariants(v); len(w) > 0 {
			t.Errorf("meshmon's own values break invariants: %v", w)
		}
		// A YAML round trip (how --dry-run output is reused) changes number types.
		if w := Invariants(normalize(t, v).(map[string]any)); len(w) > 0 {
			t.Errorf("after a JSON round trip: %v", w)
		}
	}
	v := mustValues(t, defaultOptions(t))
	jobs, _ := helmvalues.Lookup(v, "serverFiles", "prometheus.yml", "scrape_configs")
	legacy := normalize(t, jobs).([]any)
	for _, j := range legacy {
		if m := j.(map[string]any); m["job_name"] == scrape.JobLinkerdMulticluster {
			m["job_name"] = scrape.JobLinkerdServiceMirrorLegacy
		}
	}
	renamed := helmvalues.Merge(v, map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": legacy}}})
	if w := Invariants(renamed); len(w) > 0 {
		t.Errorf("the legacy job name %s is not accepted: %v", scrape.JobLinkerdServiceMirrorLegacy, w)
	}
}

func TestInvariants(t *testing.T) {
	jobsPath := `serverFiles."prometheus.yml".scrape_configs`
	setJobs := func(names ...string) map[string]any {
		var jobs []any
		for _, n := range names {
			jobs = append(jobs, map[string]any{"job_name": n})
		}
		return map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": jobs}}}
	}
	tests := []struct {
		name     string
		options  func(*ValuesOptions)
		override string
		path     string
		problem  string
	}{
		{name: "service port 80", override: "server: {service: {servicePort: 80}}", path: "server.service.servicePort", problem: "is 80"},
		{name: "service port string", override: `server: {service: {servicePort: "9090"}}`, path: "server.service.servicePort", problem: "not the integer 9090"},
		{name: "service port null", override: "server: {service: {servicePort: null}}", path: "server.service.servicePort", problem: "default port 80"},
		{name: "inject disabled", override: "server: {podAnnotations: {linkerd.io/inject: disabled}}", path: `server.podAnnotations."linkerd.io/inject"`, problem: "is disabled"},
		{name: "annotations replaced", override: "server: {podAnnotations: null}", path: `server.podAnnotations."linkerd.io/inject"`, problem: "is removed"},
		{name: "persistence off", override: "server: {persistentVolume: {enabled: false}}", path: "server.persistentVolume.enabled", problem: "persistence is off"},
		{name: "keep annotation removed", override: "server: {persistentVolume: {annotations: {helm.sh/resource-policy: null}}}", path: `server.persistentVolume.annotations."helm.sh/resource-policy"`, problem: `not "keep"`},
		{name: "StatefulSet deletes its PVC", options: func(o *ValuesOptions) { o.StatefulSet = true }, override: "server: {statefulSet: {pvcDeleteOnStsDelete: true}}", path: "server.statefulSet.pvcDeleteOnStsDelete", problem: "is true"},
		{name: "scrapeConfigs back", override: "scrapeConfigs: {kubernetes-pods: {enabled: true}}", path: "scrapeConfigs", problem: "instead of null"},
		{name: "subchart back", override: "alertmanager: {enabled: true}", path: "alertmanager.enabled", problem: "is true"},
		{name: "jobs under server", override: "server: {scrape_configs: [{job_name: x}]}", path: "server.scrape_configs", problem: "not a key the chart reads"},
		{name: "prometheus.yml under server", override: "server: {prometheus.yml: {scrape_configs: []}}", path: `server."prometheus.yml"`, problem: "not a key the chart reads"},
		{name: "jobs in server.global", override: "server: {global: {scrape_configs: []}}", path: "server.global.scrape_configs", problem: "inside Prometheus' global section"},
		{name: "global in serverFiles", override: "serverFiles: {prometheus.yml: {global: {scrape_interval: 1m}}}", path: `serverFiles."prometheus.yml".global`, problem: "duplicates the global section"},
		{name: "remote_write twice", options: func(o *ValuesOptions) { o.RemoteWriteURLs = []string{"http://m/push"} }, override: "serverFiles: {prometheus.yml: {remote_write: [{url: http://x}]}}", path: `serverFiles."prometheus.yml".remote_write`, problem: "duplicates the remote_write section"},
		{name: "proxy job dropped", override: "", path: jobsPath, problem: `job "linkerd-proxy" is missing`},
		{name: "controller job dropped", override: "", path: jobsPath, problem: `job "linkerd-controller" is missing`},
		{name: "multicluster job dropped", override: "", path: jobsPath, problem: `job "linkerd-multicluster-controller" is missing`},
		{name: "self job dropped", override: "", path: jobsPath, problem: `job "prometheus" is missing`},
		{name: "job duplicated via extraScrapeConfigs", override: "extraScrapeConfigs: \"- job_name: linkerd-proxy\\n\"", path: jobsPath, problem: `job "linkerd-proxy" is defined 2 times`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions(t)
			if tt.options != nil {
				tt.options(&o)
			}
			base := mustValues(t, o)
			var overlay map[string]any
			if tt.override != "" {
				var err error
				overlay, err = loader.LoadValues(strings.NewReader(tt.override))
				if err != nil {
					t.Fatal(err)
				}
			} else {
				// Drop the one job the case is named after.
				all := append([]string{scrape.JobPrometheus}, scrape.LinkerdJobNames()...)
				missing := strings.Split(tt.problem, `"`)[1]
				overlay = setJobs(slices.DeleteFunc(all, func(n string) bool { return n == missing })...)
			}
			warnings := Invariants(helmvalues.Merge(base, overlay))
			var found bool
			for _, w := range warnings {
				if w.Path == tt.path && strings.Contains(w.Problem, tt.problem) {
					found = true
				}
				if w.Problem == "" || w.Consequence == "" || w.Fix == "" || w.Path == "" {
					t.Errorf("incomplete warning %+v", w)
				}
			}
			if !found {
				t.Errorf("no warning at %s about %q; got %v", tt.path, tt.problem, warnings)
			}
			if len(warnings) != 1 {
				t.Errorf("want exactly one warning, got %d: %v", len(warnings), warnings)
			}
		})
	}
}

func TestInvariantsJobsMovedToExtraScrapeConfigs(t *testing.T) {
	v := mustValues(t, defaultOptions(t))
	jobs, _ := helmvalues.Lookup(v, "serverFiles", "prometheus.yml", "scrape_configs")
	extra, err := yaml.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	moved := helmvalues.Merge(v, map[string]any{
		"serverFiles":        map[string]any{"prometheus.yml": map[string]any{"scrape_configs": nil}},
		"extraScrapeConfigs": string(extra),
	})
	if w := Invariants(moved); len(w) > 0 {
		t.Errorf("jobs given through extraScrapeConfigs were not counted: %v", w)
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
