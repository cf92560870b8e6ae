// Package scrape generates the Linkerd scrape jobs from what the cluster says.
package scrape

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// LinkerdConfigName is the control plane's ConfigMap holding its Helm values.
const LinkerdConfigName = "linkerd-config"

// ProxyAdminPortName is the container port name the proxy injector gives the proxy's admin
// (metrics) port. Linkerd's templates hard-code it; no install value changes it.
const ProxyAdminPortName = "linkerd-admin"

// Params are the install-specific facts the scrape jobs depend on.
type Params struct {
	// LinkerdNamespace is the control-plane namespace; proxies carry it in their
	// linkerd.io/control-plane-ns label.
	LinkerdNamespace string
	// VizNamespace is where linkerd-viz runs; its components are scraped like the control plane.
	VizNamespace string
	// ClusterDomain is the DNS suffix of Services (clusterDomain in linkerd-config).
	ClusterDomain string
	// TrustDomain is the mesh identity suffix (identityTrustDomain in linkerd-config).
	TrustDomain string
	// ProxyContainerName is the injected sidecar's container name (proxyContainerName).
	ProxyContainerName string
}

// Defaults returns the parameters of a stock install. Use it only where no cluster can be
// asked (tests, offline rendering); the jobs must otherwise follow the cluster.
func Defaults() Params {
	return Params{
		LinkerdNamespace:   defaults.LinkerdNamespace,
		VizNamespace:       defaults.VizNamespace,
		ClusterDomain:      defaults.ClusterDomain,
		TrustDomain:        defaults.TrustDomain,
		ProxyContainerName: defaults.ProxyContainerName,
	}
}

// Validate reports every field that is empty or not a valid Kubernetes name, so that a
// bad value never ends up inside a relabel regex.
func (p Params) Validate() error {
	var errs []error
	check := func(field, value string, validate func(string) []string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s is empty", field))
			return
		}
		if msgs := validate(value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q is invalid: %s", field, value, strings.Join(msgs, "; ")))
		}
	}
	check("Linkerd namespace", p.LinkerdNamespace, validation.IsDNS1123Label)
	check("viz namespace", p.VizNamespace, validation.IsDNS1123Label)
	check("cluster domain", p.ClusterDomain, validation.IsDNS1123Subdomain)
	check("identity trust domain", p.TrustDomain, validation.IsDNS1123Subdomain)
	check("proxy container name", p.ProxyContainerName, validation.IsDNS1123Label)
	if len(errs) > 0 {
		return fmt.Errorf("invalid scrape parameters: %w", errors.Join(errs...))
	}
	return nil
}

// linkerdValues is the part of linkerd-config's "values" document meshmon reads. Pointers
// tell a missing key from an empty one.
type linkerdValues struct {
	ClusterDomain       *string `json:"clusterDomain"`
	IdentityTrustDomain *string `json:"identityTrustDomain"`
	ProxyContainerName  *string `json:"proxyContainerName"`
}

// FromLinkerdConfig reads the control plane's parameters from its linkerd-config ConfigMap.
// VizNamespace is left empty: linkerd-config does not know where viz lives (see Discover).
func FromLinkerdConfig(cm *corev1.ConfigMap) (Params, error) {
	if cm == nil {
		return Params{}, errors.New("reading linkerd-config: no ConfigMap given")
	}
	where := fmt.Sprintf("ConfigMap %s/%s", cm.Namespace, cm.Name)
	const hint = "Linkerd may be too old (meshmon needs a control plane that stores its Helm values there) or the ConfigMap was edited by hand; reinstall or upgrade Linkerd"
	if cm.Namespace == "" {
		return Params{}, fmt.Errorf("reading %s: the ConfigMap has no namespace, so the control-plane namespace is unknown", where)
	}
	raw, ok := cm.Data["values"]
	if !ok {
		return Params{}, fmt.Errorf("reading %s: key \"values\" is missing; %s", where, hint)
	}
	var v linkerdValues
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return Params{}, fmt.Errorf("reading %s: key \"values\" is not valid YAML of the expected shape (%v); %s", where, err, hint)
	}
	var missing []string
	get := func(key string, val *string) string {
		if val == nil || *val == "" {
			missing = append(missing, key)
			return ""
		}
		return *val
	}
	p := Params{
		LinkerdNamespace:   cm.Namespace,
		ClusterDomain:      get("clusterDomain", v.ClusterDomain),
		TrustDomain:        get("identityTrustDomain", v.IdentityTrustDomain),
		ProxyContainerName: get("proxyContainerName", v.ProxyContainerName),
	}
	if len(missing) > 0 {
		return Params{}, fmt.Errorf("reading %s: %s missing or empty in key \"values\"; %s", where, strings.Join(missing, ", "), hint)
	}
	return p, nil
}
