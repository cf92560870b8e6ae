package prom

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"
)

// Config is the subset of a Prometheus configuration that meshmon's checks read.
// Unknown fields are ignored, so newer Prometheus versions parse too.
type Config struct {
	Global        GlobalConfig     `yaml:"global"`
	ScrapeConfigs []ScrapeConfig   `yaml:"scrape_configs"`
	RuleFiles     []string         `yaml:"rule_files"`
	RemoteWrite   []RemoteEndpoint `yaml:"remote_write"`
	// YAML is the document the Config was parsed from.
	YAML string `yaml:"-"`
}

// GlobalConfig is the `global:` section, with Prometheus' defaults filled in.
type GlobalConfig struct {
	ScrapeInterval     model.Duration    `yaml:"scrape_interval"`
	ScrapeTimeout      model.Duration    `yaml:"scrape_timeout"`
	EvaluationInterval model.Duration    `yaml:"evaluation_interval"`
	ExternalLabels     map[string]string `yaml:"external_labels"`
}

// ScrapeConfig is one scrape job. Interval, timeout, metrics path and scheme hold the
// effective values (job setting, else the global or built-in default).
type ScrapeConfig struct {
	JobName              string               `yaml:"job_name"`
	ScrapeInterval       model.Duration       `yaml:"scrape_interval"`
	ScrapeTimeout        model.Duration       `yaml:"scrape_timeout"`
	MetricsPath          string               `yaml:"metrics_path"`
	Scheme               string               `yaml:"scheme"`
	HonorLabels          bool                 `yaml:"honor_labels"`
	Params               map[string][]string  `yaml:"params"`
	KubernetesSDConfigs  []KubernetesSDConfig `yaml:"kubernetes_sd_configs"`
	StaticConfigs        []StaticConfig       `yaml:"static_configs"`
	FileSDConfigs        []FileSDConfig       `yaml:"file_sd_configs"`
	HTTPSDConfigs        []HTTPSDConfig       `yaml:"http_sd_configs"`
	RelabelConfigs       []RelabelConfig      `yaml:"relabel_configs"`
	MetricRelabelConfigs []RelabelConfig      `yaml:"metric_relabel_configs"`
}

// KubernetesSDConfig is one kubernetes_sd_configs entry.
type KubernetesSDConfig struct {
	Role       string `yaml:"role"`
	APIServer  string `yaml:"api_server"`
	Namespaces struct {
		OwnNamespace bool     `yaml:"own_namespace"`
		Names        []string `yaml:"names"`
	} `yaml:"namespaces"`
}

// StaticConfig is one static_configs entry.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// FileSDConfig is one file_sd_configs entry.
type FileSDConfig struct {
	Files []string `yaml:"files"`
}

// HTTPSDConfig is one http_sd_configs entry.
type HTTPSDConfig struct {
	URL string `yaml:"url"`
}

// RelabelConfig is one relabel rule; fields left out of the YAML hold Prometheus' defaults.
type RelabelConfig struct {
	SourceLabels []string `yaml:"source_labels"`
	Separator    string   `yaml:"separator"`
	Regex        string   `yaml:"regex"`
	Modulus      uint64   `yaml:"modulus"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  string   `yaml:"replacement"`
	Action       string   `yaml:"action"`
}

// RemoteEndpoint is one remote_write entry.
type RemoteEndpoint struct {
	URL  string `yaml:"url"`
	Name string `yaml:"name"`
}

// Built-in defaults of Prometheus 2.x and 3.x.
const (
	defaultScrapeInterval     = model.Duration(time.Minute)
	defaultScrapeTimeout      = model.Duration(10 * time.Second)
	defaultEvaluationInterval = model.Duration(time.Minute)
)

// ParseConfig parses a prometheus.yml document and fills in the defaults Prometheus applies.
func ParseConfig(doc []byte) (*Config, error) {
	cfg := &Config{YAML: string(doc)}
	if err := yaml.Unmarshal(doc, cfg); err != nil {
		return nil, fmt.Errorf("parsing Prometheus configuration: %w", err)
	}
	g := &cfg.Global
	if g.ScrapeInterval == 0 {
		g.ScrapeInterval = defaultScrapeInterval
	}
	if g.ScrapeTimeout == 0 {
		g.ScrapeTimeout = min(defaultScrapeTimeout, g.ScrapeInterval)
	}
	if g.EvaluationInterval == 0 {
		g.EvaluationInterval = defaultEvaluationInterval
	}
	for i := range cfg.ScrapeConfigs {
		sc := &cfg.ScrapeConfigs[i]
		if sc.JobName == "" {
			return nil, fmt.Errorf("parsing Prometheus configuration: scrape_configs[%d] has no job_name", i)
		}
		if sc.ScrapeInterval == 0 {
			sc.ScrapeInterval = g.ScrapeInterval
		}
		if sc.ScrapeTimeout == 0 {
			sc.ScrapeTimeout = min(g.ScrapeTimeout, sc.ScrapeInterval)
		}
		if sc.MetricsPath == "" {
			sc.MetricsPath = "/metrics"
		}
		if sc.Scheme == "" {
			sc.Scheme = "http"
		}
	}
	return cfg, nil
}

// UnmarshalYAML presets Prometheus' relabel defaults so that an explicit empty value
// (e.g. `replacement: ""`) stays empty, as it does in Prometheus.
func (r *RelabelConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*r = RelabelConfig{Separator: ";", Regex: "(.*)", Replacement: "$1", Action: "replace"}
	type plain RelabelConfig
	if err := unmarshal((*plain)(r)); err != nil {
		return err
	}
	r.Action = strings.ToLower(r.Action)
	return nil
}

// Job returns the scrape job named name.
func (c *Config) Job(name string) (*ScrapeConfig, bool) {
	for i := range c.ScrapeConfigs {
		if c.ScrapeConfigs[i].JobName == name {
			return &c.ScrapeConfigs[i], true
		}
	}
	return nil, false
}

// IsFederation reports whether the job scrapes another Prometheus' /federate endpoint.
func (s *ScrapeConfig) IsFederation() bool {
	return strings.TrimRight(s.MetricsPath, "/") == "/federate" && len(s.FederationMatchers()) > 0
}

// FederationMatchers returns the job's match[] parameters.
func (s *ScrapeConfig) FederationMatchers() []string {
	return s.Params["match[]"]
}

// StaticTargets returns every target of the job's static_configs.
func (s *ScrapeConfig) StaticTargets() []string {
	var out []string
	for _, st := range s.StaticConfigs {
		out = append(out, st.Targets...)
	}
	return out
}
