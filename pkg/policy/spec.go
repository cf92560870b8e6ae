// Package policy manages the policy.linkerd.io objects guarding meshmon's Prometheus.
package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
)

// Defaults applied by Build when the corresponding Spec field is empty.
const (
	DefaultPrometheusServiceAccount = "prometheus-server"
	DefaultMetricsAPIServiceAccount = "metrics-api"
	DefaultMTLSAuthenticationName   = "meshmon-prometheus"
)

// vizPrometheusServiceAccount and tapServiceAccount are fixed by the linkerd-viz chart.
const (
	vizPrometheusServiceAccount = "prometheus"
	tapServiceAccount           = "tap"
)

// isVizOwnedName reports linkerd-viz's own policy objects: a viz upgrade reverts any edit to
// them, so meshmon must neither write to nor merge into them.
func isVizOwnedName(name string) bool {
	return name == "metrics-api-web" || name == "prometheus-admin"
}

// ServiceAccountRef names a ServiceAccount as `namespace/name`.
type ServiceAccountRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (r ServiceAccountRef) String() string { return r.Namespace + "/" + r.Name }

// ParseServiceAccountRef parses the `--allow-client` form `namespace/serviceaccount`.
func ParseServiceAccountRef(s string) (ServiceAccountRef, error) {
	ns, name, ok := strings.Cut(s, "/")
	ref := ServiceAccountRef{Namespace: ns, Name: name}
	if !ok || ns == "" || name == "" {
		return ServiceAccountRef{}, fmt.Errorf("invalid client %q: want namespace/serviceaccount, e.g. grafana/grafana", s)
	}
	if err := ref.validate(); err != nil {
		return ServiceAccountRef{}, err
	}
	return ref, nil
}

func (r ServiceAccountRef) validate() error {
	if errs := validation.IsDNS1123Label(r.Namespace); len(errs) > 0 {
		return fmt.Errorf("invalid client %q: namespace %q: %s", r, r.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
		return fmt.Errorf("invalid client %q: ServiceAccount name %q: %s", r, r.Name, strings.Join(errs, "; "))
	}
	return nil
}

// Spec describes the authorization meshmon sets up around its Prometheus.
type Spec struct {
	// VizNamespace is where linkerd-viz (metrics-api, its Prometheus, tap) runs.
	VizNamespace string `json:"vizNamespace"`
	// PrometheusNamespace is where meshmon's Prometheus runs, and with it every object of the
	// viz-namespace kind (Server, authorizations, MeshTLSAuthentication); default VizNamespace.
	PrometheusNamespace string `json:"prometheusNamespace,omitempty"`
	// LinkerdNamespace and TrustDomain come from the cluster (linkerd-config); both are part of
	// every mesh identity.
	LinkerdNamespace string `json:"linkerdNamespace"`
	TrustDomain      string `json:"trustDomain"`
	// ServerPodLabels select the Prometheus server pods.
	ServerPodLabels map[string]string `json:"serverPodLabels"`
	// Port is the Prometheus container port (default prom.DefaultListenPort).
	Port int `json:"port"`
	// PrometheusServiceAccount is meshmon's Prometheus ServiceAccount in PrometheusNamespace.
	PrometheusServiceAccount string `json:"prometheusServiceAccount"`
	// MetricsAPIServiceAccount is linkerd-viz's metrics-api ServiceAccount in VizNamespace.
	MetricsAPIServiceAccount string `json:"metricsAPIServiceAccount"`
	// AllowClients are further meshed clients of Prometheus (Grafana, Flagger…).
	AllowClients []ServiceAccountRef `json:"allowClients,omitempty"`
	// AllowFederateFrom are networks outside the mesh allowed to reach Prometheus (federation).
	AllowFederateFrom []string `json:"allowFederateFrom,omitempty"`
	// MTLSAuthenticationName is the MeshTLSAuthentication in PrometheusNamespace that lists the scraper
	// identities. An existing object not managed by meshmon is merged into, never replaced.
	MTLSAuthenticationName string `json:"mtlsAuthenticationName"`
	// ExtraIdentities are added to the scraper identities verbatim.
	ExtraIdentities []string `json:"extraIdentities,omitempty"`
	// ScrapeNamespaces are data-plane namespaces that need explicit scrape authorization
	// (see NeedsScrapeAuthorization).
	ScrapeNamespaces []string `json:"scrapeNamespaces,omitempty"`
}

// ScraperIdentities are the identities allowed to scrape proxies: meshmon's Prometheus, viz's own
// Prometheus and tap (in the viz namespace), then ExtraIdentities; no duplicates.
func (s Spec) ScraperIdentities() []string {
	s = s.withDefaults()
	ids := []string{
		linkerd.Identity(s.PrometheusServiceAccount, s.PrometheusNamespace, s.LinkerdNamespace, s.TrustDomain),
		linkerd.Identity(vizPrometheusServiceAccount, s.VizNamespace, s.LinkerdNamespace, s.TrustDomain),
		linkerd.Identity(tapServiceAccount, s.VizNamespace, s.LinkerdNamespace, s.TrustDomain),
	}
	ids = append(ids, s.ExtraIdentities...)
	return dedupe(ids)
}

// Instance is the meshmon.io/instance label value of this installation's objects.
func (s Spec) Instance() string {
	s = s.withDefaults()
	return labelValue(s.PrometheusNamespace + "." + s.PrometheusServiceAccount)
}

func (s Spec) withDefaults() Spec {
	if s.PrometheusNamespace == "" {
		s.PrometheusNamespace = s.VizNamespace
	}
	if s.Port == 0 {
		s.Port = prom.DefaultListenPort
	}
	if s.PrometheusServiceAccount == "" {
		s.PrometheusServiceAccount = DefaultPrometheusServiceAccount
	}
	if s.MetricsAPIServiceAccount == "" {
		s.MetricsAPIServiceAccount = DefaultMetricsAPIServiceAccount
	}
	if s.MTLSAuthenticationName == "" {
		s.MTLSAuthenticationName = DefaultMTLSAuthenticationName
	}
	return s
}

// normalize applies defaults, validates and canonicalizes the Spec so Build is deterministic.
func (s Spec) normalize() (Spec, error) {
	s = s.withDefaults()
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	for _, f := range [][2]string{{"viz namespace", s.VizNamespace}, {"Prometheus namespace", s.PrometheusNamespace}, {"Linkerd namespace", s.LinkerdNamespace}} {
		if f[1] == "" {
			add("%s is empty (it is read from the cluster; is Linkerd installed?)", f[0])
		} else if e := validation.IsDNS1123Label(f[1]); len(e) > 0 {
			add("%s %q: %s", f[0], f[1], strings.Join(e, "; "))
		}
	}
	if s.TrustDomain == "" {
		add("trust domain is empty (it is read from linkerd-config identityTrustDomain)")
	} else if e := validation.IsDNS1123Subdomain(s.TrustDomain); len(e) > 0 {
		add("trust domain %q: %s", s.TrustDomain, strings.Join(e, "; "))
	}
	if len(s.ServerPodLabels) == 0 {
		add("Prometheus server pod labels are empty: the Server would select every pod in %q", s.PrometheusNamespace)
	}
	for _, k := range slices.Sorted(maps.Keys(s.ServerPodLabels)) {
		v := s.ServerPodLabels[k]
		if e := validation.IsQualifiedName(k); len(e) > 0 {
			add("pod label key %q: %s", k, strings.Join(e, "; "))
		}
		if e := validation.IsValidLabelValue(v); len(e) > 0 {
			add("pod label %s value %q: %s", k, v, strings.Join(e, "; "))
		}
	}
	if s.Port < 1 || s.Port > 65535 {
		add("port %d is out of range 1-65535", s.Port)
	}
	for _, f := range [][2]string{{"Prometheus ServiceAccount", s.PrometheusServiceAccount}, {"metrics-api ServiceAccount", s.MetricsAPIServiceAccount}} {
		if e := validation.IsDNS1123Subdomain(f[1]); len(e) > 0 {
			add("%s %q: %s", f[0], f[1], strings.Join(e, "; "))
		}
	}
	if e := validation.IsDNS1123Subdomain(s.MTLSAuthenticationName); len(e) > 0 {
		add("MeshTLSAuthentication name %q: %s", s.MTLSAuthenticationName, strings.Join(e, "; "))
	}
	if isVizOwnedName(s.MTLSAuthenticationName) {
		add("MeshTLSAuthentication %q belongs to linkerd-viz and is reverted by every viz upgrade; use meshmon's own (omit the name) or another object", s.MTLSAuthenticationName)
	}

	clients := make([]ServiceAccountRef, 0, len(s.AllowClients))
	for _, c := range s.AllowClients {
		if err := c.validate(); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if !slices.Contains(clients, c) {
			clients = append(clients, c)
		}
	}
	s.AllowClients = clients

	cidrs := make([]string, 0, len(s.AllowFederateFrom))
	for _, c := range s.AllowFederateFrom {
		p, err := parseCIDR(c)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if !slices.Contains(cidrs, p.String()) {
			cidrs = append(cidrs, p.String())
		}
	}
	s.AllowFederateFrom = cidrs

	for _, id := range s.ExtraIdentities {
		if id == "" || strings.ContainsAny(id, " \t\n/") {
			add("extra identity %q is not a mesh identity (e.g. sa.ns.serviceaccount.identity.linkerd.cluster.local)", id)
		}
	}
	s.ExtraIdentities = dedupe(s.ExtraIdentities)

	nss := dedupe(s.ScrapeNamespaces)
	for _, ns := range nss {
		if e := validation.IsDNS1123Label(ns); len(e) > 0 {
			add("scrape namespace %q: %s", ns, strings.Join(e, "; "))
		}
	}
	slices.Sort(nss)
	s.ScrapeNamespaces = nss

	if len(errs) > 0 {
		return Spec{}, fmt.Errorf("invalid policy settings:\n  %s", strings.Join(errs, "\n  "))
	}
	return s, nil
}

// parseCIDR accepts only network prefixes in canonical form: a host address or bits set beyond
// the mask almost always mean a typo, and silently masking them would authorize another network.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			return netip.Prefix{}, fmt.Errorf("invalid --allow-federate-from %q: a single address needs a prefix length, e.g. %s/%d", s, a, a.BitLen())
		}
		return netip.Prefix{}, fmt.Errorf("invalid --allow-federate-from %q: not a CIDR (e.g. 10.0.0.0/8 or fd00::/8): %w", s, err)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("invalid --allow-federate-from %q: host bits are set; did you mean %s?", s, m)
	}
	return p, nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
