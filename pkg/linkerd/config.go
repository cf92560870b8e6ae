package linkerd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
)

// ReadConfig reads linkerd-config from the control-plane namespace ("" means
// defaults.LinkerdNamespace, as in Linkerd's CLI). VizNamespace is left empty.
func ReadConfig(ctx context.Context, client kubernetes.Interface, namespace string) (Facts, error) {
	if namespace == "" {
		namespace = defaults.LinkerdNamespace
	}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Facts{}, fmt.Errorf("Linkerd is not installed in namespace %q (it has no ConfigMap %s); install Linkerd or name its namespace with -L/--linkerd-namespace", namespace, ConfigMapName)
	case err != nil:
		return Facts{}, kube.ExplainAPIError("get", "configmaps", namespace, ConfigMapName, err)
	}
	if cm.Namespace == "" {
		// Some clients leave the namespace out of returned objects; the request says it.
		cm = cm.DeepCopy()
		cm.Namespace = namespace
	}
	return ParseConfig(cm)
}

// configValues is the part of linkerd-config's "values" document meshmon reads. Pointers
// tell a missing key from an empty one.
type configValues struct {
	ClusterDomain       *string `json:"clusterDomain"`
	IdentityTrustDomain *string `json:"identityTrustDomain"`
	ProxyContainerName  *string `json:"proxyContainerName"`
	Proxy               struct {
		DefaultInboundPolicy string `json:"defaultInboundPolicy"`
	} `json:"proxy"`
}

// ParseConfig reads the control plane's facts from its linkerd-config ConfigMap; the
// ConfigMap's namespace is the control plane's. VizNamespace is left empty.
func ParseConfig(cm *corev1.ConfigMap) (Facts, error) {
	if cm == nil {
		return Facts{}, errors.New("reading linkerd-config: no ConfigMap given")
	}
	where := fmt.Sprintf("ConfigMap %s/%s", cm.Namespace, cm.Name)
	const hint = "Linkerd may be too old (meshmon needs a control plane that stores its Helm values there) or the ConfigMap was edited by hand; reinstall or upgrade Linkerd"
	if cm.Namespace == "" {
		return Facts{}, fmt.Errorf("reading %s: the ConfigMap has no namespace, so the control-plane namespace is unknown", where)
	}
	raw, ok := cm.Data["values"]
	if !ok {
		return Facts{}, fmt.Errorf("reading %s: key \"values\" is missing; %s", where, hint)
	}
	var v configValues
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return Facts{}, fmt.Errorf("reading %s: key \"values\" is not valid YAML of the expected shape (%v); %s", where, err, hint)
	}
	var missing []string
	get := func(key string, val *string) string {
		if val == nil || *val == "" {
			missing = append(missing, key)
			return ""
		}
		return *val
	}
	f := Facts{
		LinkerdNamespace:   cm.Namespace,
		ClusterDomain:      get("clusterDomain", v.ClusterDomain),
		TrustDomain:        get("identityTrustDomain", v.IdentityTrustDomain),
		ProxyContainerName: get("proxyContainerName", v.ProxyContainerName),
		InboundPolicy:      v.Proxy.DefaultInboundPolicy,
	}
	if len(missing) > 0 {
		return Facts{}, fmt.Errorf("reading %s: %s missing or empty in key \"values\"; %s", where, strings.Join(missing, ", "), hint)
	}
	if f.InboundPolicy == "" {
		f.InboundPolicy = DefaultInboundPolicy
	}
	return f, nil
}
