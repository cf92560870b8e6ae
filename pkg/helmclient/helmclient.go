// Package helmclient builds Helm SDK action configurations on meshmon's kube flags.
package helmclient

import (
	"fmt"
	"io"
	"log/slog"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// FieldManager names Helm's writes in managedFields. The helm CLI applies as
// "helm"; writing under the SDK's default (the program's name) would make
// the fields meshmon sets conflict with the user's next `helm upgrade`, and
// a release the helm CLI made conflict with meshmon's upgrade.
const FieldManager = "helm"

// Driver is where releases are stored: Helm's default, Secrets, so the helm
// CLI sees and can manage every release meshmon makes.
const Driver = "secret"

// New returns an action configuration for releases in namespace. Helm logs
// through slog; log is where those lines go (nil discards them: Helm's
// debug chatter must not interleave with meshmon's own output).
func New(getter genericclioptions.RESTClientGetter, namespace string, log io.Writer) (*action.Configuration, error) {
	if log == nil {
		log = io.Discard
	}
	// Helm reads the manager from a package variable; every meshmon Helm
	// action goes through here, so setting it here sets it for all of them.
	kube.ManagedFieldsManager = FieldManager
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := cfg.Init(getter, namespace, Driver); err != nil {
		return nil, fmt.Errorf("initialising Helm for namespace %s: %w", namespace, err)
	}
	// Objects that name no namespace belong to the release's, as with the
	// helm CLI; Helm would otherwise take the kubeconfig's (or -n's, which
	// for meshmon names its Prometheus, not, say, linkerd-viz's release).
	if c, ok := cfg.KubeClient.(*kube.Client); ok {
		c.Namespace = namespace
	}
	return cfg, nil
}
