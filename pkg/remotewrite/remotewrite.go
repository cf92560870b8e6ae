// Package remotewrite turns remote-write endpoints into Prometheus remote_write entries in
// the chart's values, with credentials only as files of mounted Secrets, and reads them
// back.
package remotewrite

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// Secret keys and mount layout.
const (
	// SecretDir is where every referenced Secret is mounted, one directory per Secret.
	SecretDir = "/etc/meshmon/secrets"
	// MountPrefix names meshmon's entries of server.extraSecretMounts; others are the user's.
	MountPrefix = "meshmon-secret-"

	DefaultBearerKey = "token"
	DefaultCAKey     = "ca.crt"
	UsernameKey      = "username"
	PasswordKey      = "password"
	CertKey          = "tls.crt"
	KeyKey           = "tls.key"

	// TenantHeader is the header --tenant sets (Mimir, Cortex, Loki-style multi-tenancy).
	TenantHeader = "X-Scope-OrgID"

	// KeepLinkerd keeps the series of the Linkerd scrape jobs (the default).
	KeepLinkerd = "linkerd"
	// KeepAll sends every series.
	KeepAll = "all"

	// NotesKey is the top-level values key of meshmon's own notes; the chart ignores it.
	NotesKey = "meshmon"

	keepLabel = "__tmp_meshmon_keep"
)

// Paths in the chart's values.
var (
	remoteWritePath   = []string{"server", "remoteWrite"}
	secretMountsPath  = []string{"server", "extraSecretMounts"}
	externalLabelPath = []string{"server", "global", "external_labels", "cluster"}
	notesPath         = []string{NotesKey, "remoteWrite"}
	scrapeConfigsPath = []string{"serverFiles", "prometheus.yml", "scrape_configs"}
)

// SecretKeyRef names one key of a Secret in the release's namespace.
type SecretKeyRef struct {
	Secret string `json:"secret"`
	Key    string `json:"key"`
}

// Endpoint is one remote-write target.
type Endpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// BearerToken is nil when none.
	BearerToken *SecretKeyRef `json:"bearerToken,omitempty"`
	// BasicAuth names a Secret with the keys username and password.
	BasicAuth *string       `json:"basicAuth,omitempty"`
	CA        *SecretKeyRef `json:"ca,omitempty"`
	// ClientCert names a Secret with the keys tls.crt and tls.key.
	ClientCert         *string `json:"clientCert,omitempty"`
	InsecureSkipVerify bool    `json:"insecureSkipVerify,omitempty"`
	// Headers are sent with every request; they are not secret (X-Scope-OrgID from --tenant).
	Headers map[string]string `json:"headers,omitempty"`
	// Keep is "linkerd", "all" or series selectors; empty means "linkerd".
	Keep     []string `json:"keep,omitempty"`
	QueryURL string   `json:"queryURL,omitempty"`
	// Queue settings; zero means Prometheus' default.
	MaxShards   int            `json:"maxShards,omitempty"`
	Capacity    int            `json:"capacity,omitempty"`
	QueueConfig map[string]any `json:"queueConfig,omitempty"`
}

// SecretPath is the file a Secret's key is mounted at in the Prometheus container.
func SecretPath(secret, key string) string { return SecretDir + "/" + secret + "/" + key }

// MountName is the name of the extraSecretMounts entry (the pod volume) of a Secret.
func MountName(secret string) string { return MountPrefix + secret }

// ParseSecretKeyRef reads "name[:key]".
func ParseSecretKeyRef(s, defaultKey string) (SecretKeyRef, error) {
	name, key, hasKey := strings.Cut(s, ":")
	if !hasKey || key == "" {
		key = defaultKey
	}
	r := SecretKeyRef{Secret: name, Key: key}
	return r, r.validate()
}

func (r SecretKeyRef) validate() error {
	if err := validateSecretName(r.Secret); err != nil {
		return err
	}
	if errs := validation.IsConfigMapKey(r.Key); len(errs) > 0 {
		return fmt.Errorf("invalid key %q of Secret %s: %s", r.Key, r.Secret, strings.Join(errs, "; "))
	}
	return nil
}

// maxSecretName keeps meshmon-secret-<name> a valid volume name (a DNS label).
const maxSecretName = validation.DNS1123LabelMaxLength - len(MountPrefix)

func validateSecretName(s string) error {
	if s == "" {
		return errors.New("a Secret name is required (NAME or NAME:KEY)")
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 || len(s) > maxSecretName {
		return fmt.Errorf("invalid Secret name %q: meshmon mounts it as volume %s<name>, so it must be a DNS label (lower case letters, digits, '-') of at most %d characters", s, MountPrefix, maxSecretName)
	}
	return nil
}

// ParseHeader reads "K=V".
func ParseHeader(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", fmt.Errorf("invalid --header %q: give NAME=VALUE, e.g. X-Scope-OrgID=team-a", s)
	}
	return k, v, validateHeader(k)
}

// reservedHeaders are the headers Prometheus refuses in remote_write.headers.
var reservedHeaders = []string{
	"authorization", "host", "content-encoding", "content-length", "content-type", "user-agent",
	"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "www-authenticate",
	"accept-encoding", "x-prometheus-remote-write-version", "x-prometheus-scrape-timeout-seconds",
}

var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func validateHeader(k string) error {
	if !headerName.MatchString(k) {
		return fmt.Errorf("invalid header name %q", k)
	}
	if slices.Contains(reservedHeaders, strings.ToLower(k)) {
		if strings.EqualFold(k, "Authorization") {
			return errors.New("header Authorization is not allowed: credentials never go into the values; use --bearer-token-secret or --basic-auth-secret")
		}
		return fmt.Errorf("header %s is set by Prometheus itself and cannot be overridden", http.CanonicalHeaderKey(k))
	}
	return nil
}

// queueFields are the fields of Prometheus' remote_write queue_config.
var queueFields = []string{
	"capacity", "max_shards", "min_shards", "max_samples_per_send", "batch_send_deadline",
	"min_backoff", "max_backoff", "retry_on_http_429", "sample_age_limit",
}

var endpointName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the endpoint without contacting anything; every problem at once.
func (e Endpoint) Validate() error {
	var errs []error
	if !endpointName.MatchString(e.Name) {
		errs = append(errs, fmt.Errorf("invalid name %q: lower case letters, digits and '-', at most 63 characters (it becomes Prometheus' remote_name label)", e.Name))
	}
	if err := validateURL("--url", e.URL); err != nil {
		errs = append(errs, err)
	}
	if e.QueryURL != "" {
		if err := validateURL("--query-url", e.QueryURL); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range []*SecretKeyRef{e.BearerToken, e.CA} {
		if r != nil {
			if err := r.validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range []*string{e.BasicAuth, e.ClientCert} {
		if s != nil {
			if err := validateSecretName(*s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if e.BearerToken != nil && e.BasicAuth != nil {
		errs = append(errs, errors.New("give either --bearer-token-secret or --basic-auth-secret, not both: Prometheus sends one Authorization header"))
	}
	if e.InsecureSkipVerify && !strings.HasPrefix(e.URL, "https://") {
		errs = append(errs, errors.New("--remote-insecure-skip-tls-verify needs an https:// --url"))
	}
	for k := range e.Headers {
		if err := validateHeader(k); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := relabelConfigs(e.Keep); err != nil {
		errs = append(errs, err)
	}
	for k := range e.QueueConfig {
		if !slices.Contains(queueFields, k) {
			errs = append(errs, fmt.Errorf("unknown queue_config field %q: Prometheus knows %s", k, strings.Join(queueFields, ", ")))
		}
	}
	if e.MaxShards < 0 || e.Capacity < 0 {
		errs = append(errs, errors.New("--max-shards and --capacity must be positive"))
	}
	return errors.Join(errs...)
}

func validateURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid %s %q: give an absolute http:// or https:// URL", flag, raw)
	}
	if u.User != nil {
		return fmt.Errorf("invalid %s: it has credentials in it; they would land in the release's values: use --basic-auth-secret", flag)
	}
	return nil
}

// KeepSelector is the series selector a --keep value stands for ("" for all).
func KeepSelector(k string) string {
	if k == KeepLinkerd {
		return `{job=~"` + strings.Join(scrape.LinkerdJobNames(), "|") + `"}`
	}
	if k == KeepAll {
		return ""
	}
	return k
}

// relabelConfigs turns --keep values into write_relabel_configs. One selector becomes keep
// rules (one per matcher, which Prometheus applies in turn: all must match); several are
// ORed by marking the series any of them selects with a temporary label, keeping the
// marked series and dropping the label.
func relabelConfigs(keep []string) ([]any, error) {
	if len(keep) == 0 {
		keep = []string{KeepLinkerd}
	}
	if slices.Contains(keep, KeepAll) {
		if len(keep) > 1 {
			return nil, errors.New("--keep all sends every series; give it alone")
		}
		return nil, nil
	}
	var rules []any
	for _, k := range keep {
		ms, err := scrape.ParseSelector(KeepSelector(k))
		if err != nil {
			return nil, fmt.Errorf("invalid --keep %q: linkerd, all or a series selector: %w", k, err)
		}
		var labels, regexes []string
		for _, m := range ms {
			switch m.Op {
			case "=":
				regexes = append(regexes, regexp.QuoteMeta(m.Value))
			case "=~":
				if _, err := regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
					return nil, fmt.Errorf("invalid --keep %q: regular expression %q: %w", k, m.Value, err)
				}
				regexes = append(regexes, m.Value)
			default:
				return nil, fmt.Errorf("invalid --keep %q: only = and =~ matchers select what is sent (%s%s is not supported)", k, m.Label, m.Op)
			}
			labels = append(labels, m.Label)
		}
		if len(keep) == 1 {
			for i := range labels {
				rules = append(rules, map[string]any{"source_labels": []any{labels[i]}, "regex": regexes[i], "action": "keep"})
			}
			return rules, nil
		}
		src := make([]any, len(labels))
		for i, l := range labels {
			src[i] = l
			regexes[i] = "(?:" + regexes[i] + ")"
		}
		rules = append(rules, map[string]any{
			"source_labels": src, "separator": ";", "regex": strings.Join(regexes, ";"),
			"target_label": keepLabel, "replacement": "1", "action": "replace",
		})
	}
	return append(rules,
		map[string]any{"source_labels": []any{keepLabel}, "regex": "1", "action": "keep"},
		map[string]any{"regex": keepLabel, "action": "labeldrop"},
	), nil
}

// Render is the Prometheus remote_write entry of e, in chart values form. e must pass
// Validate.
func Render(e Endpoint) map[string]any {
	out := map[string]any{"name": e.Name, "url": e.URL}
	if r := e.BearerToken; r != nil {
		out["authorization"] = map[string]any{"type": "Bearer", "credentials_file": SecretPath(r.Secret, r.Key)}
	}
	if s := e.BasicAuth; s != nil {
		out["basic_auth"] = map[string]any{"username_file": SecretPath(*s, UsernameKey), "password_file": SecretPath(*s, PasswordKey)}
	}
	tls := map[string]any{}
	if r := e.CA; r != nil {
		tls["ca_file"] = SecretPath(r.Secret, r.Key)
	}
	if s := e.ClientCert; s != nil {
		tls["cert_file"] = SecretPath(*s, CertKey)
		tls["key_file"] = SecretPath(*s, KeyKey)
	}
	if e.InsecureSkipVerify {
		tls["insecure_skip_verify"] = true
	}
	if len(tls) > 0 {
		out["tls_config"] = tls
	}
	if len(e.Headers) > 0 {
		h := map[string]any{}
		for k, v := range e.Headers {
			h[k] = v
		}
		out["headers"] = h
	}
	if rules, _ := relabelConfigs(e.Keep); len(rules) > 0 {
		out["write_relabel_configs"] = rules
	}
	q := helmvalues.DeepCopyMap(e.QueueConfig)
	if e.MaxShards > 0 {
		q["max_shards"] = int64(e.MaxShards)
	}
	if e.Capacity > 0 {
		q["capacity"] = int64(e.Capacity)
	}
	if len(q) > 0 {
		out["queue_config"] = q
	}
	return normalize(out).(map[string]any)
}

// normalize makes numbers and lists look as they do after a JSON round trip (as in stored
// release values), so that comparisons are by content.
func normalize(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(raw, &out) != nil {
		return v
	}
	return out
}

func same(a, b any) bool {
	ra, errA := json.Marshal(normalize(a))
	rb, errB := json.Marshal(normalize(b))
	return errA == nil && errB == nil && string(ra) == string(rb)
}

// SecretsReferenced lists the Secret keys e needs, in a stable order.
func SecretsReferenced(e Endpoint) []SecretKeyRef {
	var out []SecretKeyRef
	if r := e.BearerToken; r != nil {
		out = append(out, *r)
	}
	if s := e.BasicAuth; s != nil {
		out = append(out, SecretKeyRef{*s, UsernameKey}, SecretKeyRef{*s, PasswordKey})
	}
	if r := e.CA; r != nil {
		out = append(out, *r)
	}
	if s := e.ClientCert; s != nil {
		out = append(out, SecretKeyRef{*s, CertKey}, SecretKeyRef{*s, KeyKey})
	}
	return out
}

// ParseSecretPath is SecretPath backwards; ok is false for any other file.
func ParseSecretPath(p string) (SecretKeyRef, bool) {
	rest, ok := strings.CutPrefix(p, SecretDir+"/")
	if !ok {
		return SecretKeyRef{}, false
	}
	secret, key, ok := strings.Cut(rest, "/")
	if !ok || secret == "" || key == "" || strings.Contains(key, "/") {
		return SecretKeyRef{}, false
	}
	return SecretKeyRef{secret, key}, true
}
