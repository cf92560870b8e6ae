package release

import (
	"fmt"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// Warning is a problem that does not stop an install but will bite later.
type Warning struct {
	// Path is the values key at fault, e.g. server.service.servicePort.
	Path        string
	Problem     string
	Consequence string
	Fix         string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s: %s; %s. Fix: %s", w.Path, w.Problem, w.Consequence, w.Fix)
}

// misplacedServerKey tells where a Prometheus or chart key people put under server:, where
// the chart never reads it, belongs instead.
func misplacedServerKey(key string) (string, bool) {
	switch key {
	case "scrape_configs":
		return `serverFiles."prometheus.yml".scrape_configs`, true
	case "scrape_config_files":
		return "scrapeConfigFiles", true
	case "prometheus.yml":
		return `serverFiles."prometheus.yml"`, true
	case "serverFiles":
		return "serverFiles (top level)", true
	case "scrapeConfigs":
		return "scrapeConfigs (top level)", true
	case "extraScrapeConfigs":
		return "extraScrapeConfigs (top level)", true
	case "rule_files":
		return `serverFiles."prometheus.yml".rule_files`, true
	case "remote_write":
		return "server.remoteWrite", true
	case "remote_read":
		return "server.remoteRead", true
	case "external_labels":
		return "server.global.external_labels", true
	case "scrape_interval":
		return "server.global.scrape_interval", true
	case "scrape_timeout":
		return "server.global.scrape_timeout", true
	case "evaluation_interval":
		return "server.global.evaluation_interval", true
	}
	return "", false
}

// Invariants checks merged values for user overrides that break what meshmon's Prometheus
// needs to serve Linkerd. Null counts as removed, since Helm deletes null keys.
func Invariants(values map[string]any) []Warning {
	var w []Warning
	add := func(path, problem, consequence, fix string) {
		w = append(w, Warning{Path: path, Problem: problem, Consequence: consequence, Fix: fix})
	}

	portPath := pathString("server", "service", "servicePort")
	if v, ok := helmvalues.Lookup(values, "server", "service", "servicePort"); !ok {
		add(portPath, "is removed, so the chart's default port 80 applies",
			fmt.Sprintf("linkerd-viz and meshmon query Prometheus on port %d, so the dashboards stay empty", ServicePort),
			fmt.Sprintf("set %s=%d", portPath, ServicePort))
	} else if n, isInt := helmvalues.Int(v); !isInt || n != ServicePort {
		add(portPath, fmt.Sprintf("is %v, not the integer %d", v, ServicePort),
			fmt.Sprintf("linkerd-viz and meshmon query Prometheus on port %d, so the dashboards stay empty", ServicePort),
			fmt.Sprintf("drop the override or set %s=%d", portPath, ServicePort))
	}

	injectPath := pathString("server", "podAnnotations", InjectAnnotation)
	switch v, ok := helmvalues.Lookup(values, "server", "podAnnotations", InjectAnnotation); {
	case !ok:
		add(injectPath, "is removed, so Prometheus is meshed only if its namespace injects by default",
			"an unmeshed Prometheus is not protected by the mesh policy, cannot scrape proxies in namespaces that deny unauthenticated traffic, and linkerd viz check warns about it",
			fmt.Sprintf("set %s=enabled", injectPath))
	case v != "enabled":
		add(injectPath, fmt.Sprintf("is %v, so Prometheus is not meshed", v),
			"an unmeshed Prometheus is not protected by the mesh policy, cannot scrape proxies in namespaces that deny unauthenticated traffic, and linkerd viz check warns about it",
			fmt.Sprintf("set %s=enabled", injectPath))
	}

	pvEnabled, pvPresent := helmvalues.Lookup(values, "server", "persistentVolume", "enabled")
	statefulSet := helmvalues.IsTrue(helmvalues.Lookup(values, "server", "statefulSet", "enabled"))
	existing, _ := helmvalues.Lookup(values, "server", "persistentVolume", "existingClaim")
	switch {
	case !helmvalues.IsTrue(pvEnabled, pvPresent):
		add(pathString("server", "persistentVolume", "enabled"), "persistence is off",
			"Prometheus keeps its data in an emptyDir and loses it on every restart",
			"remove the override so the server gets a persistent volume")
	case statefulSet:
		if helmvalues.IsTrue(helmvalues.Lookup(values, "server", "statefulSet", "pvcDeleteOnStsDelete")) {
			add(pathString("server", "statefulSet", "pvcDeleteOnStsDelete"), "is true",
				"uninstalling the release deletes the data volume",
				"set it to false")
		}
	case existing == nil || existing == "":
		keepPath := pathString("server", "persistentVolume", "annotations", KeepAnnotation)
		if v, _ := helmvalues.Lookup(values, "server", "persistentVolume", "annotations", KeepAnnotation); v != keepValue {
			add(keepPath, "is not \"keep\"",
				"helm uninstall (and meshmon uninstall) deletes the PVC with all metrics",
				fmt.Sprintf("set %s=keep", keepPath))
		}
	}

	if _, ok := helmvalues.Lookup(values, "scrapeConfigs"); ok {
		add("scrapeConfigs", "is set again instead of null",
			"the chart merges it with its ten default jobs, which scrape the whole cluster alongside the Linkerd jobs",
			"drop the override; add extra jobs to serverFiles.\"prometheus.yml\".scrape_configs or extraScrapeConfigs")
	}

	for _, sub := range subcharts() {
		if helmvalues.IsTrue(helmvalues.Lookup(values, sub, "enabled")) {
			add(pathString(sub, "enabled"), "is true",
				"the release installs "+sub+" too, which meshmon neither needs nor checks",
				"drop the override")
		}
	}

	if server, ok := helmvalues.Lookup(values, "server"); ok {
		if m, isMap := server.(map[string]any); isMap {
			for _, k := range sortedKeys(m) {
				if where, bad := misplacedServerKey(k); bad {
					add(pathString("server", k), "is not a key the chart reads",
						"the setting is silently ignored",
						"move it to "+where)
				}
			}
		}
	}
	if _, ok := helmvalues.Lookup(values, "server", "global", "scrape_configs"); ok {
		add(pathString("server", "global", "scrape_configs"), "is inside Prometheus' global section",
			"Prometheus rejects the configuration",
			`move the jobs to serverFiles."prometheus.yml".scrape_configs`)
	}

	w = append(w, prometheusYMLWarnings(values)...)
	w = append(w, jobWarnings(values)...)
	return w
}

// chartRenderedKeys are prometheus.yml sections the chart writes itself from other values,
// with the value that makes it write them ("" = always).
func chartRenderedKeys() []struct{ key, source string } {
	return []struct{ key, source string }{
		{"global", ""},
		{"remote_write", "remoteWrite"},
		{"remote_read", "remoteRead"},
		{"otlp", "otlp"},
	}
}

func prometheusYMLWarnings(values map[string]any) []Warning {
	var w []Warning
	for _, r := range chartRenderedKeys() {
		if _, ok := helmvalues.Lookup(values, "serverFiles", "prometheus.yml", r.key); !ok {
			continue
		}
		target := "server.global"
		if r.source != "" {
			target = "server." + r.source
			if v, set := helmvalues.Lookup(values, "server", r.source); !set || isEmpty(v) {
				continue
			}
		}
		w = append(w, Warning{
			Path:        pathString("serverFiles", "prometheus.yml", r.key),
			Problem:     "duplicates the " + r.key + " section the chart renders from " + target,
			Consequence: "prometheus.yml gets the key twice and Prometheus rejects it, so the configuration never loads",
			Fix:         "move the settings to " + target,
		})
	}
	return w
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	case string:
		return t == ""
	}
	return false
}

// jobConsequence says what is lost without a job.
func jobConsequence(job string) string {
	switch job {
	case scrape.JobPrometheus:
		return "Prometheus' own metrics are not kept, so meshmon check cannot prove persistence from the TSDB"
	case scrape.JobLinkerdController:
		return "control-plane and viz component metrics are missing"
	case scrape.JobLinkerdMulticluster:
		return "multicluster service-mirror and controller metrics are missing"
	case scrape.JobLinkerdProxy:
		return "there are no proxy metrics: dashboards, linkerd viz stat and the policy check see nothing"
	}
	return "its targets are not scraped"
}

// jobWarnings checks the jobs from every place the chart takes them.
func jobWarnings(values map[string]any) []Warning {
	jobsPath := pathString("serverFiles", "prometheus.yml", "scrape_configs")
	var names []string
	if list, ok := helmvalues.Lookup(values, "serverFiles", "prometheus.yml", "scrape_configs"); ok {
		names = append(names, jobNames(list)...)
	}
	if raw, ok := helmvalues.Lookup(values, "extraScrapeConfigs"); ok {
		if s, isString := raw.(string); isString && s != "" {
			var extra []any
			// A templated or broken string is the chart's problem to report; the jobs in
			// it are then simply not counted.
			if err := yaml.Unmarshal([]byte(s), &extra); err == nil {
				names = append(names, jobNames(extra)...)
			}
		}
	}
	if m, ok := helmvalues.Lookup(values, "scrapeConfigs"); ok {
		if jobs, isMap := m.(map[string]any); isMap {
			for _, key := range sortedKeys(jobs) {
				job, _ := jobs[key].(map[string]any)
				if enabled, set := job["enabled"]; set && enabled != true {
					continue
				}
				if n, _ := job["job_name"].(string); n != "" {
					key = n
				}
				names = append(names, key)
			}
		}
	}

	var w []Warning
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for _, n := range sortedKeys(seen) {
		if seen[n] > 1 {
			w = append(w, Warning{
				Path:        jobsPath,
				Problem:     fmt.Sprintf("job %q is defined %d times", n, seen[n]),
				Consequence: "Prometheus rejects a configuration with duplicate job names, so it never loads",
				Fix:         "keep one definition of the job",
			})
		}
	}
	canonical := map[string]bool{}
	for _, n := range names {
		canonical[scrape.CanonicalJobName(n)] = true
	}
	for _, want := range append([]string{scrape.JobPrometheus}, scrape.LinkerdJobNames()...) {
		if !canonical[want] {
			w = append(w, Warning{
				Path:        jobsPath,
				Problem:     fmt.Sprintf("job %q is missing", want),
				Consequence: jobConsequence(want),
				Fix:         "do not replace meshmon's scrape_configs; add your own jobs through extraScrapeConfigs",
			})
		}
	}
	return w
}

func jobNames(list any) []string {
	items, _ := list.([]any)
	var names []string
	for _, it := range items {
		if job, ok := it.(map[string]any); ok {
			if n, ok := job["job_name"].(string); ok {
				names = append(names, n)
			}
		}
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
