// Package helmclient builds Helm SDK action configurations on meshmon's kube flags.
package helmclient

import (
	"fmt"
	"io"
	"log/slog"

	"helm.sh/helm/v4/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

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
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := cfg.Init(getter, namespace, Driver); err != nil {
		return nil, fmt.Errorf("initialising Helm for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}
