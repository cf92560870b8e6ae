// Package scrape generates the Linkerd scrape jobs from the install's facts (pkg/linkerd).
package scrape

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
)

// Job names. They match the prometheus-config ConfigMap of linkerd-viz, which is what
// Linkerd's dashboards and CLI query by.
const (
	JobPrometheus          = "prometheus"
	JobLinkerdController   = "linkerd-controller"
	JobLinkerdMulticluster = "linkerd-multicluster-controller"
	JobLinkerdProxy        = "linkerd-proxy"
	// JobLinkerdServiceMirrorLegacy is the multicluster job's name in older docs and in
	// hand-written configs; it scrapes the same targets.
	JobLinkerdServiceMirrorLegacy = "linkerd-service-mirror"
)

// LinkerdJobNames are the jobs every meshmon Prometheus must have, in generation order.
func LinkerdJobNames() []string {
	return []string{JobLinkerdController, JobLinkerdMulticluster, JobLinkerdProxy}
}

// CanonicalJobName maps a legacy job name to the current one so that a config written
// from older docs is judged by what it scrapes, not by its name.
func CanonicalJobName(name string) string {
	if name == JobLinkerdServiceMirrorLegacy {
		return JobLinkerdMulticluster
	}
	return name
}

// Job is one Prometheus scrape_config, limited to the fields meshmon generates. The JSON
// tags are Prometheus' YAML keys (sigs.k8s.io/yaml marshals through them).
type Job struct {
	JobName             string               `json:"job_name"`
	StaticConfigs       []StaticConfig       `json:"static_configs,omitempty"`
	KubernetesSDConfigs []KubernetesSDConfig `json:"kubernetes_sd_configs,omitempty"`
	RelabelConfigs      []RelabelConfig      `json:"relabel_configs,omitempty"`
}

// StaticConfig is a fixed target list.
type StaticConfig struct {
	Targets []string `json:"targets"`
}

// KubernetesSDConfig is Kubernetes service discovery.
type KubernetesSDConfig struct {
	Role       string              `json:"role"`
	Namespaces *NamespaceDiscovery `json:"namespaces,omitempty"`
}

// NamespaceDiscovery restricts discovery to named namespaces.
type NamespaceDiscovery struct {
	Names []string `json:"names"`
}

// RelabelConfig is one relabelling step. Empty fields are omitted so Prometheus applies
// its own defaults, exactly as in Linkerd's config.
type RelabelConfig struct {
	SourceLabels []string `json:"source_labels,omitempty"`
	Action       string   `json:"action,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	TargetLabel  string   `json:"target_label,omitempty"`
	Replacement  string   `json:"replacement,omitempty"`
}

// Jobs returns Prometheus' self-scrape followed by the Linkerd jobs, with the same
// semantics as linkerd-viz's own prometheus-config but for this install's namespaces and
// proxy container name. p must pass linkerd.Facts.Validate.
func Jobs(p linkerd.Facts) []Job {
	return []Job{selfJob(), controllerJob(p), multiclusterJob(), proxyJob(p)}
}

// selfJob keeps Prometheus' own metrics (TSDB, config reloads) queryable over time.
func selfJob() Job {
	return Job{
		JobName:       JobPrometheus,
		StaticConfigs: []StaticConfig{{Targets: []string{"localhost:" + strconv.Itoa(prom.DefaultListenPort)}}},
	}
}

// componentFromContainer names a control-plane target after its container.
func componentFromContainer() RelabelConfig {
	return RelabelConfig{
		SourceLabels: []string{"__meta_kubernetes_pod_container_name"},
		Action:       "replace",
		TargetLabel:  "component",
	}
}

// dropProxyAdmin leaves proxies to the linkerd-proxy job so no target is scraped twice.
func dropProxyAdmin() RelabelConfig {
	return RelabelConfig{
		SourceLabels: []string{"__meta_kubernetes_pod_container_port_name"},
		Action:       "drop",
		Regex:        linkerd.ProxyAdminPortName,
	}
}

func controllerJob(p linkerd.Facts) Job {
	names := []string{p.LinkerdNamespace}
	if p.VizNamespace != p.LinkerdNamespace {
		names = append(names, p.VizNamespace)
	}
	return Job{
		JobName: JobLinkerdController,
		KubernetesSDConfigs: []KubernetesSDConfig{{
			Role:       "pod",
			Namespaces: &NamespaceDiscovery{Names: names},
		}},
		RelabelConfigs: []RelabelConfig{
			{
				SourceLabels: []string{"__meta_kubernetes_pod_container_port_name"},
				Action:       "keep",
				Regex:        ".*admin$",
			},
			dropProxyAdmin(),
			componentFromContainer(),
		},
	}
}

// multiclusterJob finds the multicluster extension's pods by their component label in any
// namespace: Linkerd lets that extension live anywhere.
func multiclusterJob() Job {
	return Job{
		JobName:             JobLinkerdMulticluster,
		KubernetesSDConfigs: []KubernetesSDConfig{{Role: "pod"}},
		RelabelConfigs: []RelabelConfig{
			{
				SourceLabels: []string{
					"__meta_kubernetes_pod_label_component",
					"__meta_kubernetes_pod_container_port_name",
				},
				Action: "keep",
				Regex:  "(linkerd-service-mirror|controller);.*-admin$",
			},
			dropProxyAdmin(),
			componentFromContainer(),
		},
	}
}

func proxyJob(p linkerd.Facts) Job {
	keep := "^" + strings.Join([]string{
		regexp.QuoteMeta(p.ProxyContainerName),
		regexp.QuoteMeta(linkerd.ProxyAdminPortName),
		regexp.QuoteMeta(p.LinkerdNamespace),
	}, ";") + "$"
	return Job{
		JobName:             JobLinkerdProxy,
		KubernetesSDConfigs: []KubernetesSDConfig{{Role: "pod"}},
		RelabelConfigs: []RelabelConfig{
			// Completed pods keep their IP in discovery for a while; scraping them only
			// produces down targets.
			{
				SourceLabels: []string{"__meta_kubernetes_pod_phase"},
				Action:       "keep",
				Regex:        "(Pending|Running)",
			},
			{
				SourceLabels: []string{
					"__meta_kubernetes_pod_container_name",
					"__meta_kubernetes_pod_container_port_name",
					"__meta_kubernetes_pod_label_linkerd_io_control_plane_ns",
				},
				Action: "keep",
				Regex:  keep,
			},
			{SourceLabels: []string{"__meta_kubernetes_namespace"}, Action: "replace", TargetLabel: "namespace"},
			{SourceLabels: []string{"__meta_kubernetes_pod_name"}, Action: "replace", TargetLabel: "pod"},
			// A pod label "job" would clash with Prometheus' own job label.
			{SourceLabels: []string{"__meta_kubernetes_pod_label_linkerd_io_proxy_job"}, Action: "replace", TargetLabel: "k8s_job"},
			{Action: "labeldrop", Regex: "__meta_kubernetes_pod_label_linkerd_io_proxy_job"},
			// linkerd.io/proxy-deployment=x becomes deployment=x, and so on; the dashboards
			// group by these.
			{Action: "labelmap", Regex: "__meta_kubernetes_pod_label_linkerd_io_proxy_(.+)"},
			{Action: "labeldrop", Regex: "__meta_kubernetes_pod_label_linkerd_io_proxy_(.+)"},
			{Action: "labelmap", Regex: "__meta_kubernetes_pod_label_linkerd_io_(.+)"},
			// Every other pod label is copied too, with a linkerd_io_ prefix stripped, going
			// through temporary labels so the stripped copy wins.
			{Action: "labelmap", Regex: "__meta_kubernetes_pod_label_(.+)", Replacement: "__tmp_pod_label_$1"},
			{Action: "labelmap", Regex: "__tmp_pod_label_linkerd_io_(.+)", Replacement: "__tmp_pod_label_$1"},
			{Action: "labeldrop", Regex: "__tmp_pod_label_linkerd_io_(.+)"},
			{Action: "labelmap", Regex: "__tmp_pod_label_(.+)"},
		},
	}
}
