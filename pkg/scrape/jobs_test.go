package scrape

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/linkerd"
)

var update = flag.Bool("update", false, "rewrite golden files")

// generic turns typed jobs into what a YAML parser yields, so they compare with parsed configs.
func generic(t *testing.T, jobs []Job) []map[string]any {
	t.Helper()
	raw, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestJobsGolden(t *testing.T) {
	got, err := yaml.Marshal(Jobs(fixtureParams(t)))
	if err != nil {
		t.Fatal(err)
	}
	fixtures.Golden(t, filepath.Join("testdata", "jobs.golden.yaml"), got, *update)
	again, _ := yaml.Marshal(Jobs(fixtureParams(t)))
	if !bytes.Equal(got, again) {
		t.Error("rendering the jobs twice gave different YAML")
	}
}

// TestJobsEqualLinkerdViz compares every job meshmon generates with the job of the same name
// in linkerd-viz's own prometheus-config, field by field, and requires every Linkerd job of
// that config to be generated.
func TestJobsEqualLinkerdViz(t *testing.T) {
	fixture := map[string]map[string]any{}
	for _, j := range fixtureVizJobs(t) {
		name, _ := j["job_name"].(string)
		fixture[name] = j
	}
	generated := map[string]bool{}
	for _, got := range generic(t, Jobs(fixtureParams(t))) {
		name := got["job_name"].(string)
		generated[name] = true
		want, ok := fixture[name]
		if !ok {
			t.Errorf("job %q is not in linkerd-viz's prometheus-config", name)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			g, _ := yaml.Marshal(got)
			w, _ := yaml.Marshal(want)
			t.Errorf("job %q differs from linkerd-viz's\n--- generated\n%s--- linkerd-viz\n%s", name, g, w)
		}
	}
	for name := range fixture {
		if strings.HasPrefix(name, "linkerd-") && !generated[name] {
			t.Errorf("linkerd-viz scrapes job %q but meshmon does not generate it", name)
		}
	}
	if !generated[JobPrometheus] {
		t.Errorf("the self-scrape job %q is missing", JobPrometheus)
	}
}

// leafDiffs lists the paths whose values differ between two decoded documents.
func leafDiffs(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return []string{path}
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		var out []string
		for k := range keys {
			out = append(out, leafDiffs(path+"."+k, av[k], bv[k])...)
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return []string{path}
		}
		var out []string
		for i := range av {
			out = append(out, leafDiffs(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(a, b) {
			return []string{path}
		}
		return nil
	}
}

// TestJobsFollowParams changes every install-specific parameter and checks that the jobs
// change exactly where the install shows through, and nowhere else.
func TestJobsFollowParams(t *testing.T) {
	custom := linkerd.Facts{
		LinkerdNamespace:   "mesh-system",
		VizNamespace:       "mesh-observe",
		ClusterDomain:      "corp.example",
		TrustDomain:        "mesh.corp.example",
		ProxyContainerName: "mesh-sidecar",
	}
	if err := custom.Validate(); err != nil {
		t.Fatal(err)
	}
	base := generic(t, Jobs(fixtureParams(t)))
	changed := generic(t, Jobs(custom))
	var asAny [2][]any
	for i, jobs := range [][]map[string]any{base, changed} {
		for _, j := range jobs {
			asAny[i] = append(asAny[i], j)
		}
	}
	diffs := leafDiffs("jobs", asAny[0], asAny[1])
	slices.Sort(diffs)
	want := []string{
		"jobs[1].kubernetes_sd_configs[0].namespaces.names[0]",
		"jobs[1].kubernetes_sd_configs[0].namespaces.names[1]",
		"jobs[3].relabel_configs[1].regex",
	}
	if !slices.Equal(diffs, want) {
		t.Errorf("changing the parameters changed %v, want exactly %v", diffs, want)
	}
	out, err := yaml.Marshal(Jobs(custom))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"- linkerd\n", "- linkerd-viz\n", ";linkerd$", "^linkerd-proxy;"} {
		if strings.Contains(string(out), leak) {
			t.Errorf("a default value (%q) leaked into jobs generated for a custom install:\n%s", leak, out)
		}
	}
}

type pod struct {
	phase, namespace, component, controlPlaneNS, container, port string
}

// keeps applies a job's keep/drop steps to one discovered container port the way
// Prometheus does (source values joined with ";", regex fully anchored).
func keeps(t *testing.T, job Job, p pod) bool {
	t.Helper()
	labels := map[string]string{
		"__meta_kubernetes_pod_phase":                             p.phase,
		"__meta_kubernetes_namespace":                             p.namespace,
		"__meta_kubernetes_pod_label_component":                   p.component,
		"__meta_kubernetes_pod_label_linkerd_io_control_plane_ns": p.controlPlaneNS,
		"__meta_kubernetes_pod_container_name":                    p.container,
		"__meta_kubernetes_pod_container_port_name":               p.port,
	}
	for _, sd := range job.KubernetesSDConfigs {
		if sd.Namespaces != nil && !slices.Contains(sd.Namespaces.Names, p.namespace) {
			return false
		}
	}
	for _, rc := range job.RelabelConfigs {
		if rc.Action != "keep" && rc.Action != "drop" {
			continue
		}
		vals := make([]string, len(rc.SourceLabels))
		for i, l := range rc.SourceLabels {
			vals[i] = labels[l]
		}
		re, err := regexp.Compile("^(?s:" + rc.Regex + ")$")
		if err != nil {
			t.Fatalf("job %s: regex %q does not compile: %v", job.JobName, rc.Regex, err)
		}
		if re.MatchString(strings.Join(vals, ";")) != (rc.Action == "keep") {
			return false
		}
	}
	return true
}

func TestJobsSelectTargets(t *testing.T) {
	p := linkerd.Facts{
		LinkerdNamespace:   "mesh-system",
		VizNamespace:       "mesh-observe",
		ClusterDomain:      "cluster.local",
		TrustDomain:        "cluster.local",
		ProxyContainerName: "mesh-sidecar",
	}
	jobs := map[string]Job{}
	for _, j := range Jobs(p) {
		jobs[j.JobName] = j
	}
	tests := []struct {
		name string
		job  string
		pod  pod
		want bool
	}{
		{"proxy of a meshed pod", JobLinkerdProxy, pod{"Running", "shop", "", "mesh-system", "mesh-sidecar", "linkerd-admin"}, true},
		{"proxy of a pending pod", JobLinkerdProxy, pod{"Pending", "shop", "", "mesh-system", "mesh-sidecar", "linkerd-admin"}, true},
		{"proxy of a finished pod", JobLinkerdProxy, pod{"Succeeded", "shop", "", "mesh-system", "mesh-sidecar", "linkerd-admin"}, false},
		{"proxy with the default container name", JobLinkerdProxy, pod{"Running", "shop", "", "mesh-system", "linkerd-proxy", "linkerd-admin"}, false},
		{"proxy of another control plane", JobLinkerdProxy, pod{"Running", "shop", "", "linkerd", "mesh-sidecar", "linkerd-admin"}, false},
		{"proxy of a control plane whose name extends ours", JobLinkerdProxy, pod{"Running", "shop", "", "mesh-system2", "mesh-sidecar", "linkerd-admin"}, false},
		{"app port of a meshed pod", JobLinkerdProxy, pod{"Running", "shop", "", "mesh-system", "mesh-sidecar", "http"}, false},
		{"destination admin port", JobLinkerdController, pod{"Running", "mesh-system", "", "mesh-system", "destination", "dest-admin"}, true},
		{"viz metrics-api admin port", JobLinkerdController, pod{"Running", "mesh-observe", "", "mesh-system", "metrics-api", "admin"}, true},
		{"control-plane proxy left to the proxy job", JobLinkerdController, pod{"Running", "mesh-system", "", "mesh-system", "mesh-sidecar", "linkerd-admin"}, false},
		{"admin port outside the Linkerd namespaces", JobLinkerdController, pod{"Running", "shop", "", "mesh-system", "app", "admin"}, false},
		{"a port named like the old docs' admin-http", JobLinkerdController, pod{"Running", "mesh-system", "", "mesh-system", "x", "admin-http"}, false},
		{"service mirror", JobLinkerdMulticluster, pod{"Running", "linkerd-multicluster", "linkerd-service-mirror", "mesh-system", "service-mirror", "mirror-admin"}, true},
		{"multicluster controller", JobLinkerdMulticluster, pod{"Running", "linkerd-multicluster", "controller", "mesh-system", "controller", "ctrl-admin"}, true},
		{"multicluster proxy left to the proxy job", JobLinkerdMulticluster, pod{"Running", "linkerd-multicluster", "controller", "mesh-system", "mesh-sidecar", "linkerd-admin"}, false},
		{"unrelated component", JobLinkerdMulticluster, pod{"Running", "shop", "web", "mesh-system", "web", "web-admin"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keeps(t, jobs[tt.job], tt.pod); got != tt.want {
				t.Errorf("job %s keeps %+v = %v, want %v", tt.job, tt.pod, got, tt.want)
			}
		})
	}
}

func TestJobsOneNamespaceForBoth(t *testing.T) {
	p := linkerd.Defaults()
	p.VizNamespace = p.LinkerdNamespace
	for _, j := range Jobs(p) {
		if j.JobName != JobLinkerdController {
			continue
		}
		if got := j.KubernetesSDConfigs[0].Namespaces.Names; !slices.Equal(got, []string{p.LinkerdNamespace}) {
			t.Errorf("namespaces = %v, want the shared namespace once", got)
		}
		return
	}
	t.Fatal("no controller job")
}

func TestJobNames(t *testing.T) {
	var names []string
	for _, j := range Jobs(linkerd.Defaults()) {
		names = append(names, j.JobName)
	}
	for _, want := range LinkerdJobNames() {
		if !slices.Contains(names, want) {
			t.Errorf("LinkerdJobNames lists %q but Jobs does not generate it (%v)", want, names)
		}
	}
	if got := CanonicalJobName(JobLinkerdServiceMirrorLegacy); got != JobLinkerdMulticluster {
		t.Errorf("CanonicalJobName(legacy) = %q", got)
	}
	if got := CanonicalJobName(JobLinkerdProxy); got != JobLinkerdProxy {
		t.Errorf("CanonicalJobName(%q) = %q", JobLinkerdProxy, got)
	}
}
