package scrape

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FederationJobPrefix starts the name of every scrape job that federates another
// Prometheus; meshmon owns the jobs named so (federate add|remove, carried over by install).
const FederationJobPrefix = "federate-"

// FederatePath is Prometheus' federation endpoint.
const FederatePath = "/federate"

// DefaultFederationMatch selects what a mesh's dashboards are built from: the proxies' and
// the control plane's metrics.
func DefaultFederationMatch() []string {
	return []string{`{job="` + JobLinkerdProxy + `"}`, `{job="` + JobLinkerdController + `"}`}
}

// FederationSource is another Prometheus whose /federate this one scrapes.
type FederationSource struct {
	// Name identifies the source (a DNS label); the job is FederationJobPrefix+Name.
	Name string `json:"name"`
	// URL is the remote /federate endpoint: http(s)://host[:port][/prefix]/federate.
	URL string `json:"url"`
	// Match are the series selectors sent as match[] (at least one).
	Match []string `json:"match"`
	// Interval and Timeout override the global scrape interval and timeout when set.
	Interval string `json:"interval,omitempty"`
	Timeout  string `json:"timeout,omitempty"`
	// InsecureSkipVerify turns off TLS certificate verification for an https URL.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// The credentials, as paths of files mounted from Kubernetes Secrets (never the
	// credentials themselves): a bearer token, a basic-auth username and password, and
	// the CA that signs the remote's certificate.
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
	UsernameFile    string `json:"usernameFile,omitempty"`
	PasswordFile    string `json:"passwordFile,omitempty"`
	CAFile          string `json:"caFile,omitempty"`
}

// JobName is the scrape job federating this source.
func (s FederationSource) JobName() string { return FederationJobPrefix + s.Name }

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// Normalize validates the source and fills in what may be left out: the default match[]
// selectors, the /federate path and the scheme's port. Every problem is reported at once.
func (s *FederationSource) Normalize() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("invalid source name %q: %s", s.Name, strings.Join(msgs, "; ")))
	} else if len(s.JobName()) > validation.DNS1123LabelMaxLength {
		errs = append(errs, fmt.Errorf("source name %q is too long: at most %d characters", s.Name, validation.DNS1123LabelMaxLength-len(FederationJobPrefix)))
	}
	if u, err := normalizeFederateURL(s.URL); err != nil {
		errs = append(errs, err)
	} else {
		s.URL = u
	}
	if len(s.Match) == 0 {
		s.Match = DefaultFederationMatch()
	}
	for _, m := range s.Match {
		if !validSelector(m) {
			errs = append(errs, fmt.Errorf("invalid --match %q: a metric name or a series selector such as {job=\"linkerd-proxy\"}, label values in quotes (in a shell, put the whole selector in single quotes)", m))
		}
	}
	var interval, timeout model.Duration
	if s.Interval != "" {
		d, err := model.ParseDuration(s.Interval)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("invalid --interval %q: a positive Prometheus duration such as 30s or 1m", s.Interval))
		}
		interval = d
	}
	if s.Timeout != "" {
		d, err := model.ParseDuration(s.Timeout)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("invalid --scrape-timeout %q: a positive Prometheus duration such as 10s", s.Timeout))
		}
		timeout = d
	}
	if interval > 0 && timeout > interval {
		errs = append(errs, fmt.Errorf("--scrape-timeout %s is longer than --interval %s, which Prometheus refuses", s.Timeout, s.Interval))
	}
	if s.InsecureSkipVerify && strings.HasPrefix(s.URL, "http://") {
		errs = append(errs, errors.New("--remote-insecure-skip-tls-verify applies to https:// URLs only"))
	}
	return errors.Join(errs...)
}

// validSelector accepts a metric name, a {…} selector or a metric name followed by one,
// whose matchers are label, operator and quoted value: a value the shell stripped of its
// quotes ({job=linkerd-proxy}) is caught here rather than by the remote Prometheus.
func validSelector(s string) bool {
	s = strings.TrimSpace(s)
	name, rest, hasBrace := strings.Cut(s, "{")
	if !hasBrace {
		return metricName.MatchString(s)
	}
	if name = strings.TrimSpace(name); name != "" && !metricName.MatchString(name) {
		return false
	}
	body, ok := strings.CutSuffix(strings.TrimSpace(rest), "}")
	if !ok {
		return false
	}
	if !matcherList.MatchString(body) {
		return false
	}
	// {} selects everything, which Prometheus refuses without a metric name.
	return name != "" || strings.TrimSpace(body) != ""
}

// matcherList matches a comma-separated list of label matchers (trailing comma allowed).
var matcherList = regexp.MustCompile(`^\s*(?:` + matcher + `\s*(?:,\s*` + matcher + `\s*)*,?\s*)?$`)

const matcher = `[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)`

func normalizeFederateURL(raw string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("invalid --url %q: %s (e.g. https://prometheus.west.example.com/federate or http://10.1.2.3:9090)", raw, why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad(err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return "", bad("no host")
	case u.User != nil:
		return "", bad("credentials in the URL would be stored in the release values in clear; put a bearer token or basic auth in a -f values file instead")
	case u.RawQuery != "" || u.Fragment != "":
		return "", bad("no query or fragment: the series to federate are given with --match")
	}
	path := strings.TrimRight(u.Path, "/")
	switch {
	case path == "":
		path = FederatePath
	case !strings.HasSuffix(path, FederatePath):
		return "", bad("the path must be /federate (or end in /federate behind a route prefix)")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port) + path, nil
}

// Job renders the scrape job for a normalized source. honor_labels keeps the labels the
// remote Prometheus reports (its job, instance and external labels such as cluster).
func (s FederationSource) Job() map[string]any {
	u, _ := url.Parse(s.URL)
	match := make([]any, 0, len(s.Match))
	for _, m := range s.Match {
		match = append(match, m)
	}
	job := map[string]any{
		"job_name":       s.JobName(),
		"honor_labels":   true,
		"metrics_path":   u.Path,
		"scheme":         u.Scheme,
		"params":         map[string]any{"match[]": match},
		"static_configs": []any{map[string]any{"targets": []any{u.Host}}},
	}
	if s.Interval != "" {
		job["scrape_interval"] = s.Interval
	}
	if s.Timeout != "" {
		job["scrape_timeout"] = s.Timeout
	}
	tls := map[string]any{}
	if s.InsecureSkipVerify {
		tls["insecure_skip_verify"] = true
	}
	if s.CAFile != "" {
		tls["ca_file"] = s.CAFile
	}
	if len(tls) > 0 {
		job["tls_config"] = tls
	}
	if s.BearerTokenFile != "" {
		job["authorization"] = map[string]any{"type": "Bearer", "credentials_file": s.BearerTokenFile}
	}
	if s.UsernameFile != "" || s.PasswordFile != "" {
		job["basic_auth"] = map[string]any{"username_file": s.UsernameFile, "password_file": s.PasswordFile}
	}
	return job
}

// FederationSourceFromJob reads a source back from a scrape job meshmon generated (or one
// written the same way). ok is false for any other job.
func FederationSourceFromJob(job map[string]any) (s FederationSource, ok bool) {
	name, _ := job["job_name"].(string)
	if !strings.HasPrefix(name, FederationJobPrefix) {
		return s, false
	}
	s.Name = strings.TrimPrefix(name, FederationJobPrefix)
	scheme, _ := job["scheme"].(string)
	if scheme == "" {
		scheme = "http"
	}
	path, _ := job["metrics_path"].(string)
	if path == "" {
		path = "/metrics"
	}
	var targets []string
	statics, _ := job["static_configs"].([]any)
	for _, sc := range statics {
		m, _ := sc.(map[string]any)
		ts, _ := m["targets"].([]any)
		for _, t := range ts {
			if str, isStr := t.(string); isStr {
				targets = append(targets, str)
			}
		}
	}
	if len(targets) != 1 {
		return s, false
	}
	s.URL = scheme + "://" + targets[0] + path
	if params, isMap := job["params"].(map[string]any); isMap {
		list, _ := params["match[]"].([]any)
		for _, m := range list {
			if str, isStr := m.(string); isStr {
				s.Match = append(s.Match, str)
			}
		}
	}
	s.Interval, _ = job["scrape_interval"].(string)
	s.Timeout, _ = job["scrape_timeout"].(string)
	if tls, isMap := job["tls_config"].(map[string]any); isMap {
		s.InsecureSkipVerify, _ = tls["insecure_skip_verify"].(bool)
		s.CAFile, _ = tls["ca_file"].(string)
	}
	if auth, isMap := job["authorization"].(map[string]any); isMap {
		s.BearerTokenFile, _ = auth["credentials_file"].(string)
	}
	if basic, isMap := job["basic_auth"].(map[string]any); isMap {
		s.UsernameFile, _ = basic["username_file"].(string)
		s.PasswordFile, _ = basic["password_file"].(string)
	}
	return s, true
}

// Matcher is one label matcher of a series selector.
type Matcher struct {
	Label string
	// Op is one of =, !=, =~, !~.
	Op    string
	Value string
}

var matcherCapture = regexp.MustCompile(`\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)\s*,?`)

// ParseSelector splits a selector that validSelector accepts into its matchers; a metric
// name before the braces becomes a __name__ equality matcher.
func ParseSelector(s string) ([]Matcher, error) {
	if !validSelector(s) {
		return nil, fmt.Errorf("invalid series selector %q: a metric name or a selector such as {job=\"linkerd-proxy\"}, label values in quotes (in a shell, put the whole selector in single quotes)", s)
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(s), "{")
	var out []Matcher
	if name = strings.TrimSpace(name); name != "" {
		out = append(out, Matcher{Label: "__name__", Op: "=", Value: name})
	}
	body := strings.TrimSuffix(strings.TrimSpace(rest), "}")
	for _, m := range matcherCapture.FindAllStringSubmatch(body, -1) {
		v, err := unquoteLabelValue(m[3])
		if err != nil {
			return nil, fmt.Errorf("invalid series selector %q: label value %s: %w", s, m[3], err)
		}
		out = append(out, Matcher{Label: m[1], Op: m[2], Value: v})
	}
	return out, nil
}

func unquoteLabelValue(q string) (string, error) {
	if strings.HasPrefix(q, "'") {
		inner := strings.ReplaceAll(q[1:len(q)-1], `\'`, `'`)
		q = `"` + strings.ReplaceAll(inner, `"`, `\"`) + `"`
	}
	return strconv.Unquote(q)
}
