// Package release owns the meshmon Prometheus Helm release.
package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"net/url"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// Facts of the chart and of Linkerd that the values pin down.
const (
	// ServicePort is where linkerd-viz and meshmon expect Prometheus; the chart's default
	// Service port is 80.
	ServicePort = 9090
	// InjectAnnotation meshes the Prometheus pod.
	InjectAnnotation = "linkerd.io/inject"
	// KeepAnnotation on the PVC makes `helm uninstall` leave the data volume alone.
	KeepAnnotation = "helm.sh/resource-policy"
	keepValue      = "keep"
	// chartName is the chart's name, which its fullname templates fold into resource names.
	chartName = "prometheus"
	// minStorageSize rejects zero, negative and absurd volumes alike.
	minStorageSize = "1Mi"
	// serverComponent is the chart's default server.name.
	serverComponent = "server"
	// retentionShare is the part of the volume Prometheus may fill with blocks by default;
	// the rest is headroom for the WAL and compaction.
	retentionShare = 90
)

// subcharts are the chart's dependencies, all enabled by default and all unneeded.
func subcharts() []string {
	return []string{"alertmanager", "kube-state-metrics", "prometheus-node-exporter", "prometheus-pushgateway"}
}

// ValuesOptions describe the Prometheus meshmon installs. Empty fields take the defaults
// documented on each field.
type ValuesOptions struct {
	// ReleaseName defaults to defaults.ReleaseName.
	ReleaseName string
	// Namespace defaults to Scrape.VizNamespace.
	Namespace string
	// StorageSize is a Kubernetes quantity; defaults to defaults.StorageSize.
	StorageSize string
	// StorageClass: "" uses the cluster's default class, "-" requests storageClassName "".
	StorageClass string
	// ExistingClaim reuses a PVC instead of creating one (Deployment mode only).
	ExistingClaim string
	// StatefulSet runs the server as a StatefulSet with a volumeClaimTemplate.
	StatefulSet bool
	// Retention is a Prometheus duration; defaults to defaults.Retention.
	Retention string
	// RetentionSize uses Prometheus' units (B, KB, MB, GB, TB, PB, EB, powers of 1024);
	// defaults to 90% of StorageSize; "0" turns size-based retention off.
	RetentionSize string
	// ScrapeInterval defaults to defaults.ScrapeInterval.
	ScrapeInterval string
	// ScrapeTimeout defaults to defaults.ScrapeTimeout, or to ScrapeInterval if that is shorter.
	ScrapeTimeout string
	// EvaluationInterval defaults to defaults.EvaluationInterval.
	EvaluationInterval string
	// ClusterName becomes the external label "cluster"; omitted when empty.
	ClusterName string
	// RemoteWriteURLs receive every sample (Thanos, Mimir, Cortex, VictoriaMetrics…).
	RemoteWriteURLs []string
	// ServiceAccountName defaults to the name the chart gives the server (ServerFullname).
	ServiceAccountName string
	// ClusterRoleNameOverride defaults to a name unique to the namespace and release.
	ClusterRoleNameOverride string
	// Scrape are the Linkerd facts the scrape jobs are generated from.
	Scrape linkerd.Facts
}

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

// ServerFullname is the name the chart gives the server's Deployment, Service, PVC and, unless
// overridden, ServiceAccount, for a release without name overrides.
func ServerFullname(release string) string {
	name := release + "-" + chartName + "-" + serverComponent
	if strings.Contains(release, chartName) {
		name = release + "-" + serverComponent
	}
	return truncName(name)
}

// truncName shortens a name the way the chart's templates do (trunc 63 | trimSuffix "-").
func truncName(name string) string {
	if len(name) > validation.DNS1123LabelMaxLength {
		name = name[:validation.DNS1123LabelMaxLength]
	}
	return strings.TrimSuffix(name, "-")
}

// defaultClusterRoleName is unique per namespace and release: the chart's default is the
// server fullname alone, which collides with a same-named release in another namespace.
func defaultClusterRoleName(namespace, release string) string {
	name := namespace + "-" + ServerFullname(release)
	if len(name) <= validation.DNS1123LabelMaxLength {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(name[:validation.DNS1123LabelMaxLength-len(suffix)], "-") + suffix
}

// Resolve fills in defaults and validates every option. The warnings are about choices
// that work but are probably not meant.
func (o ValuesOptions) Resolve() (ValuesOptions, []Warning, error) {
	var errs []error
	var warnings []Warning
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := o.Scrape.Validate(); err != nil {
		errs = append(errs, err)
	}
	o.ReleaseName = orDefault(o.ReleaseName, defaults.ReleaseName)
	if err := ValidateName(o.ReleaseName); err != nil {
		fail("%s", err)
	}
	o.Namespace = orDefault(o.Namespace, o.Scrape.VizNamespace)
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		fail("namespace %q is invalid: %s", o.Namespace, strings.Join(msgs, "; "))
	}

	o.StorageSize = orDefault(o.StorageSize, defaults.StorageSize)
	size, err := resource.ParseQuantity(o.StorageSize)
	switch {
	case err != nil:
		fail("storage size %q is not a Kubernetes quantity: write it like 20Gi, 500Gi or 1Ti", o.StorageSize)
	case size.Cmp(resource.MustParse(minStorageSize)) < 0:
		fail("storage size %q is too small: Prometheus needs at least %s, e.g. 20Gi", o.StorageSize, minStorageSize)
	default:
		o.StorageSize = size.String()
	}
	if o.StorageClass != "" && o.StorageClass != "-" {
		if msgs := validation.IsDNS1123Subdomain(o.StorageClass); len(msgs) > 0 {
			fail("storage class %q is invalid: %s", o.StorageClass, strings.Join(msgs, "; "))
		}
	}
	if o.ExistingClaim != "" {
		if msgs := validation.IsDNS1123Subdomain(o.ExistingClaim); len(msgs) > 0 {
			fail("existing claim %q is invalid: %s", o.ExistingClaim, strings.Join(msgs, "; "))
		}
		if o.StatefulSet {
			fail("an existing claim cannot be used with a StatefulSet: the chart always creates the StatefulSet's volume from a template; drop one of the two options")
		}
	}

	o.Retention = orDefault(o.Retention, defaults.Retention)
	if _, err := positiveDuration("retention", o.Retention); err != nil {
		errs = append(errs, err)
	}
	o.ScrapeInterval = orDefault(o.ScrapeInterval, defaults.ScrapeInterval)
	interval, err := positiveDuration("scrape interval", o.ScrapeInterval)
	if err != nil {
		errs = append(errs, err)
	}
	if o.ScrapeTimeout == "" {
		o.ScrapeTimeout = defaults.ScrapeTimeout
		if d, _ := model.ParseDuration(defaults.ScrapeTimeout); interval > 0 && interval < d {
			o.ScrapeTimeout = o.ScrapeInterval
		}
	}
	timeout, err := positiveDuration("scrape timeout", o.ScrapeTimeout)
	if err != nil {
		errs = append(errs, err)
	}
	if interval > 0 && timeout > interval {
		fail("scrape timeout %s is longer than the scrape interval %s: Prometheus refuses such a config; shorten the timeout or lengthen the interval", o.ScrapeTimeout, o.ScrapeInterval)
	}
	o.EvaluationInterval = orDefault(o.EvaluationInterval, defaults.EvaluationInterval)
	if _, err := positiveDuration("evaluation interval", o.EvaluationInterval); err != nil {
		errs = append(errs, err)
	}

	switch {
	case o.RetentionSize == "0":
		o.RetentionSize = ""
	case o.RetentionSize == "" && size.Sign() > 0:
		o.RetentionSize = retentionSizeFor(size)
	case o.RetentionSize != "":
		bytes, err := parseRetentionSize(o.RetentionSize)
		if err != nil {
			errs = append(errs, err)
		} else if size.Sign() > 0 && bytes.Cmp(quantityBytes(size)) > 0 {
			warnings = append(warnings, Warning{
				Path:        "server.retentionSize",
				Problem:     fmt.Sprintf("%s is more than the %s volume", o.RetentionSize, o.StorageSize),
				Consequence: "the volume fills up before size-based retention deletes anything, and Prometheus stops ingesting",
				Fix:         fmt.Sprintf("leave the retention size empty (meshmon then uses %s) or grow the volume", retentionSizeFor(size)),
			})
		}
	}

	if o.ClusterName != "" && strings.ContainsAny(o.ClusterName, "\n\r") {
		fail("cluster name %q must be a single line", o.ClusterName)
	}
	for _, raw := range o.RemoteWriteURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("remote-write URL %q is invalid: give an absolute http:// or https:// URL", raw)
		}
	}

	o.ServiceAccountName = orDefault(o.ServiceAccountName, ServerFullname(o.ReleaseName))
	if msgs := validation.IsDNS1123Subdomain(o.ServiceAccountName); len(msgs) > 0 {
		fail("service account name %q is invalid: %s", o.ServiceAccountName, strings.Join(msgs, "; "))
	}
	o.ClusterRoleNameOverride = orDefault(o.ClusterRoleNameOverride, defaultClusterRoleName(o.Namespace, o.ReleaseName))
	if msgs := validation.IsDNS1123Subdomain(o.ClusterRoleNameOverride); len(msgs) > 0 || len(o.ClusterRoleNameOverride) > validation.DNS1123LabelMaxLength {
		fail("cluster role name %q is invalid: use at most 63 lower-case letters, digits, '-' and '.' (the chart truncates longer names)", o.ClusterRoleNameOverride)
	}

	if len(errs) > 0 {
		return ValuesOptions{}, nil, fmt.Errorf("invalid Prometheus options: %w", errors.Join(errs...))
	}
	return o, warnings, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// positiveDuration parses a Prometheus duration (15d, 1h30m, 10s), rejecting zero.
func positiveDuration(what, s string) (model.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a Prometheus duration: use a number and a unit (ms, s, m, h, d, w, y), largest unit first, like 15d or 1h30m", what, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s %q must be longer than zero", what, s)
	}
	return d, nil
}

// parseRetentionSize reads --retention-size: a Prometheus size, larger than zero.
func parseRetentionSize(s string) (*big.Int, error) {
	bytes, ok := prom.ParseSize(s)
	if !ok {
		return nil, fmt.Errorf("retention size %q is invalid: use a number and one of Prometheus' units B, KB, MB, GB, TB, PB, EB (powers of 1024), like 18GB", s)
	}
	if bytes.Sign() <= 0 {
		return nil, fmt.Errorf("retention size %q must be larger than zero (or exactly 0 to turn size-based retention off)", s)
	}
	return bytes, nil
}

func quantityBytes(q resource.Quantity) *big.Int {
	r, _ := new(big.Rat).SetString(q.AsDec().String())
	return new(big.Int).Quo(r.Num(), r.Denom())
}

// retentionSizeFor is retentionShare% of a volume, in Prometheus' units (prom.FormatSize:
// 20Gi → 18GB, 8Gi → 7372MB).
func retentionSizeFor(volume resource.Quantity) string {
	b := quantityBytes(volume)
	b.Mul(b, big.NewInt(retentionShare))
	b.Quo(b, big.NewInt(100))
	return prom.FormatSize(b)
}

// Values builds the chart values meshmon installs Prometheus with. The warnings are those
// of Resolve.
func Values(opts ValuesOptions) (map[string]any, []Warning, error) {
	o, warnings, err := opts.Resolve()
	if err != nil {
		return nil, nil, err
	}
	jobs, err := toValue(scrape.Jobs(o.Scrape))
	if err != nil {
		return nil, nil, fmt.Errorf("converting the scrape jobs to chart values: %w", err)
	}

	global := map[string]any{
		"scrape_interval":     o.ScrapeInterval,
		"scrape_timeout":      o.ScrapeTimeout,
		"evaluation_interval": o.EvaluationInterval,
	}
	if o.ClusterName != "" {
		global["external_labels"] = map[string]any{"cluster": o.ClusterName}
	}
	pv := map[string]any{
		"enabled":     true,
		"size":        o.StorageSize,
		"accessModes": []any{"ReadWriteOnce"},
		"annotations": map[string]any{KeepAnnotation: keepValue},
	}
	if o.StorageClass != "" {
		pv["storageClass"] = o.StorageClass
	}
	if o.ExistingClaim != "" {
		pv["existingClaim"] = o.ExistingClaim
	}
	server := map[string]any{
		"global":                  global,
		"service":                 map[string]any{"servicePort": ServicePort},
		"persistentVolume":        pv,
		"statefulSet":             map[string]any{"enabled": o.StatefulSet},
		"retention":               o.Retention,
		"retentionSize":           o.RetentionSize,
		"podAnnotations":          map[string]any{InjectAnnotation: "enabled"},
		"clusterRoleNameOverride": o.ClusterRoleNameOverride,
	}
	if len(o.RemoteWriteURLs) > 0 {
		rw := make([]any, 0, len(o.RemoteWriteURLs))
		for _, u := range o.RemoteWriteURLs {
			rw = append(rw, map[string]any{"url": u})
		}
		server["remoteWrite"] = rw
	}

	values := map[string]any{
		// null, not {}: Helm deletes a key set to null, taking the chart's ten default jobs
		// with it, while {} would merge with them.
		"scrapeConfigs": nil,
		"server":        server,
		"serverFiles": map[string]any{
			"prometheus.yml": map[string]any{"scrape_configs": jobs},
		},
		"serviceAccounts": map[string]any{
			"server": map[string]any{"name": o.ServiceAccountName},
		},
	}
	for _, sub := range subcharts() {
		values[sub] = map[string]any{"enabled": false}
	}
	return values, warnings, nil
}

// toValue converts typed data into the plain maps, lists and scalars chart values are made of.
func toValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RenderValuesYAML renders values with sorted keys, keeping explicit nulls.
func RenderValuesYAML(values map[string]any) ([]byte, error) {
	out, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("rendering chart values as YAML: %w", err)
	}
	return out, nil
}

// pathString writes a values path the way the docs do: dotted, with keys that contain dots
// quoted (serverFiles."prometheus.yml".scrape_configs).
func pathString(keys ...string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		if strings.ContainsAny(k, ". ") {
			k = `"` + k + `"`
		}
		parts[i] = k
	}
	return strings.Join(parts, ".")
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
	if !helmvalues.IsTrue(pvEnabled, pvPresent) {
		add(pathString("server", "persistentVolume", "enabled"), "persistence is off",
			"Prometheus keeps its data in an emptyDir and loses it on every restart",
			"remove the override so the server gets a persistent volume")
	} else if statefulSet {
		if helmvalues.IsTrue(helmvalues.Lookup(values, "server", "statefulSet", "pvcDeleteOnStsDelete")) {
			add(pathString("server", "statefulSet", "pvcDeleteOnStsDelete"), "is true",
				"uninstalling the release deletes the data volume",
				"set it to false")
		}
	} else if existing == nil || existing == "" {
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

// isFreeForm tells the sections whose keys the chart passes on without listing them in its
// defaults: Prometheus' own global section, extra ConfigMap files, extra default-style jobs,
// the subcharts' values and Helm's global values.
func isFreeForm(path string) bool {
	switch path {
	case "server.global",
		"serverFiles",
		"scrapeConfigs",
		"global",
		"alertmanager",
		"kube-state-metrics",
		"prometheus-node-exporter",
		"prometheus-pushgateway":
		return true
	}
	return false
}

// isCommentedChartKey tells the keys chart 29's templates read but its values.yaml only
// mentions in comments.
func isCommentedChartKey(path string) bool {
	switch path {
	case "server.automountServiceAccountToken",
		"serviceAccounts.server.automountServiceAccountToken",
		"server.schedulerName",
		"server.hostPort",
		"server.ingress.servicePort",
		"server.persistentVolume.storageClass",
		"server.persistentVolume.selector",
		"server.persistentVolume.volumeName",
		"server.podDisruptionBudget.maxUnavailable",
		"server.podDisruptionBudget.minAvailable",
		"server.podDisruptionBudget.unhealthyPodEvictionPolicy",
		"server.service.nodePort",
		"server.service.gRPC.nodePort",
		"server.verticalAutoscaler.updateMode",
		"server.verticalAutoscaler.containerPolicies":
		return true
	}
	return false
}

// UnknownPaths lists the keys of values that the chart, judged by its default values, does
// not know: typos and settings in the wrong place, which Helm silently ignores. Keys under
// maps that default to empty ({} annotations, labels…) and under pass-through sections are
// accepted.
func UnknownPaths(values, chartDefaults map[string]any) []string {
	var out []string
	walkUnknown(nil, values, chartDefaults, &out)
	slices.Sort(out)
	return out
}

func walkUnknown(prefix []string, values, defaults map[string]any, out *[]string) {
	if isFreeForm(pathString(prefix...)) {
		return
	}
	for k, v := range values {
		keys := append(slices.Clone(prefix), k)
		d, known := defaults[k]
		if !known {
			if len(defaults) > 0 && !isCommentedChartKey(pathString(keys...)) {
				*out = append(*out, pathString(keys...))
			}
			continue
		}
		vm, vIsMap := v.(map[string]any)
		dm, dIsMap := d.(map[string]any)
		if vIsMap && dIsMap {
			walkUnknown(keys, vm, dm, out)
		}
	}
}
