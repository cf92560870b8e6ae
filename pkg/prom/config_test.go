package prom_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/prom"
)

// vizPrometheusConfig extracts prometheus.yml from the prometheus-config ConfigMap of viz.yaml.
func vizPrometheusConfig(t *testing.T) string {
	t.Helper()
	var cm struct {
		Data map[string]string `json:"data"`
	}
	fixtures.Object(t, &cm, "ConfigMap", "prometheus-config", "linkerd", "viz.yaml")
	return cm.Data["prometheus.yml"]
}

func TestParseConfigLinkerdViz(t *testing.T) {
	cfg, err := prom.ParseConfig([]byte(vizPrometheusConfig(t)))
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Global; time.Duration(g.ScrapeInterval) != 10*time.Second || time.Duration(g.ScrapeTimeout) != 10*time.Second || time.Duration(g.EvaluationInterval) != 10*time.Second {
		t.Errorf("global = %+v", g)
	}
	ctrl, ok := cfg.Job("linkerd-controller")
	if !ok || len(ctrl.KubernetesSDConfigs) != 1 {
		t.Fatalf("linkerd-controller = %+v", ctrl)
	}
	sd := ctrl.KubernetesSDConfigs[0]
	if sd.Role != "pod" || !slices.Equal(sd.Namespaces.Names, []string{"linkerd", "linkerd-viz"}) {
		t.Errorf("linkerd-controller SD = %+v", sd)
	}
	if time.Duration(ctrl.ScrapeInterval) != 10*time.Second || ctrl.MetricsPath != "/metrics" || ctrl.Scheme != "http" {
		t.Errorf("linkerd-controller effective settings = %v %q %q", ctrl.ScrapeInterval, ctrl.MetricsPath, ctrl.Scheme)
	}
	if rc := ctrl.RelabelConfigs[0]; rc.Action != "keep" || rc.Regex != ".*admin$" || !slices.Equal(rc.SourceLabels, []string{"__meta_kubernetes_pod_container_port_name"}) {
		t.Errorf("first linkerd-controller rule = %+v", rc)
	}
	proxy, ok := cfg.Job("linkerd-proxy")
	if !ok || len(proxy.KubernetesSDConfigs) != 1 || len(proxy.KubernetesSDConfigs[0].Namespaces.Names) != 0 {
		t.Fatalf("linkerd-proxy = %+v", proxy)
	}
	if rc := proxy.RelabelConfigs[1]; rc.Action != "keep" || rc.Regex != "^linkerd-proxy;linkerd-admin;linkerd$" || len(rc.SourceLabels) != 3 {
		t.Errorf("linkerd-proxy keep rule = %+v", rc)
	}
	// `- source_labels: [__meta_kubernetes_namespace]` / action: replace / target_label: namespace
	// leaves regex, separator and replacement to Prometheus' defaults.
	if rc := proxy.RelabelConfigs[2]; rc.TargetLabel != "namespace" || rc.Regex != "(.*)" || rc.Replacement != "$1" || rc.Separator != ";" {
		t.Errorf("linkerd-proxy namespace rule = %+v", rc)
	}
	cadvisor, _ := cfg.Job("kubernetes-nodes-cadvisor")
	if cadvisor == nil || cadvisor.Scheme != "https" || len(cadvisor.MetricRelabelConfigs) != 2 || cadvisor.MetricRelabelConfigs[1].Action != "drop" {
		t.Errorf("kubernetes-nodes-cadvisor = %+v", cadvisor)
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.IsFederation() {
			t.Errorf("%s taken for a federation job", sc.JobName)
		}
	}
}

func TestParseConfigDefaultsAndTolerance(t *testing.T) {
	cfg, err := prom.ParseConfig([]byte(`
storage:
  tsdb: {out_of_order_time_window: 1h}
scrape_configs:
- job_name: fast
  scrape_interval: 5s
  brand_new_option: true
  relabel_configs:
  - source_labels: [__address__]
    regex: 1
    target_label: port
    replacement: ""
    action: Replace
- job_name: plain
- job_name: fed
  metrics_path: /federate/
  params:
    match[]: ['{job="a"}', '{job="b"}']
- job_name: notfed
  metrics_path: /federate
`))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global
	if time.Duration(g.ScrapeInterval) != time.Minute || time.Duration(g.ScrapeTimeout) != 10*time.Second || time.Duration(g.EvaluationInterval) != time.Minute {
		t.Errorf("global defaults = %+v", g)
	}
	fast, _ := cfg.Job("fast")
	if time.Duration(fast.ScrapeInterval) != 5*time.Second || time.Duration(fast.ScrapeTimeout) != 5*time.Second {
		t.Errorf("fast: interval %v timeout %v, want 5s and 5s (timeout capped by the interval)", fast.ScrapeInterval, fast.ScrapeTimeout)
	}
	if rc := fast.RelabelConfigs[0]; rc.Regex != "1" || rc.Replacement != "" || rc.Action != "replace" || rc.Separator != ";" {
		t.Errorf("relabel = %+v; an explicit empty replacement must stay empty", rc)
	}
	plain, _ := cfg.Job("plain")
	if time.Duration(plain.ScrapeInterval) != time.Minute || time.Duration(plain.ScrapeTimeout) != 10*time.Second || plain.MetricsPath != "/metrics" {
		t.Errorf("plain = %+v", plain)
	}
	if fed, _ := cfg.Job("fed"); !fed.IsFederation() || len(fed.FederationMatchers()) != 2 {
		t.Errorf("fed = %+v", fed)
	}
	if nf, _ := cfg.Job("notfed"); nf.IsFederation() {
		t.Error("a /federate job without match[] is not a working federation job")
	}

	short, err := prom.ParseConfig([]byte("global:\n  scrape_interval: 5s\n"))
	if err != nil || time.Duration(short.Global.ScrapeTimeout) != 5*time.Second {
		t.Errorf("global timeout with a 5s interval = %v, %v; want 5s", short.Global.ScrapeTimeout, err)
	}

	for name, doc := range map[string]string{
		"bad yaml":     "scrape_configs: [",
		"bad duration": "global:\n  scrape_interval: soon\n",
		"no job name":  "scrape_configs:\n- scrape_interval: 1s\n",
	} {
		if _, err := prom.ParseConfig([]byte(doc)); err == nil || !strings.Contains(err.Error(), "Prometheus configuration") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
