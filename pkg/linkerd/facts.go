// Package linkerd is the one home of what meshmon knows about the Linkerd install it works
// with: the control plane's settings in linkerd-config, where the control plane and
// linkerd-viz run, and the names and identity format Linkerd fixes.
package linkerd

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// Names Linkerd fixes: no install value changes them.
const (
	// ConfigMapName is the control plane's ConfigMap holding its Helm values.
	ConfigMapName = "linkerd-config"
	// VizExtensionSelector selects the namespace linkerd-viz installs itself into.
	VizExtensionSelector = "linkerd.io/extension=viz"
	// ProxyAdminPortName is the container port name the proxy injector gives the proxy's
	// admin (metrics) port.
	ProxyAdminPortName = "linkerd-admin"
	// ControlPlaneNamespaceLabel is the label the injector puts on meshed pods, naming the
	// namespace of the control plane they belong to.
	ControlPlaneNamespaceLabel = "linkerd.io/control-plane-ns"
	// DefaultInboundPolicy is the proxies' default inbound policy when linkerd-config sets none.
	DefaultInboundPolicy = "all-unauthenticated"
)

// Facts are the install-specific facts meshmon's scrape jobs, policy and checks depend on.
type Facts struct {
	// LinkerdNamespace is the control-plane namespace; proxies carry it in their
	// linkerd.io/control-plane-ns label, and it is part of every mesh identity.
	LinkerdNamespace string
	// VizNamespace is where linkerd-viz runs; linkerd-config does not know it.
	VizNamespace string
	// ClusterDomain is the DNS suffix of Services (clusterDomain in linkerd-config).
	ClusterDomain string
	// TrustDomain is the mesh identity suffix (identityTrustDomain in linkerd-config).
	TrustDomain string
	// ProxyContainerName is the injected sidecar's container name (proxyContainerName).
	ProxyContainerName string
	// InboundPolicy is the cluster's default inbound policy (proxy.defaultInboundPolicy),
	// DefaultInboundPolicy when unset. It is kept as written: only policy decisions judge it.
	InboundPolicy string
}

// Defaults returns the facts of a stock install. Use it only where no cluster can be asked
// (tests, offline rendering); everything else must follow the cluster.
func Defaults() Facts {
	return Facts{
		LinkerdNamespace:   defaults.LinkerdNamespace,
		VizNamespace:       defaults.VizNamespace,
		ClusterDomain:      defaults.ClusterDomain,
		TrustDomain:        defaults.TrustDomain,
		ProxyContainerName: defaults.ProxyContainerName,
		InboundPolicy:      DefaultInboundPolicy,
	}
}

// Validate reports every name that is empty or not a valid Kubernetes name, so that a bad
// value never ends up inside a relabel regex or a policy object.
func (f Facts) Validate() error {
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
	check("Linkerd namespace", f.LinkerdNamespace, validation.IsDNS1123Label)
	check("viz namespace", f.VizNamespace, validation.IsDNS1123Label)
	check("cluster domain", f.ClusterDomain, validation.IsDNS1123Subdomain)
	check("identity trust domain", f.TrustDomain, validation.IsDNS1123Subdomain)
	check("proxy container name", f.ProxyContainerName, validation.IsDNS1123Label)
	if len(errs) > 0 {
		return fmt.Errorf("invalid Linkerd install facts: %w", errors.Join(errs...))
	}
	return nil
}
