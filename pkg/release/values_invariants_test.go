package release

import (
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/scrape"
)

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
