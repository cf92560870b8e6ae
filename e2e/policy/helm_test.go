//go:build e2e

package policy

import (
	"errors"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmkube "helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/helmclient"
	"github.com/meshmon/meshmon/pkg/kube"
)

// installPrometheus installs the fixture prometheus chart with the Helm SDK as meshmon would
// (the install command is tested elsewhere), unless the release exists.
func installPrometheus(t *testing.T, env *framework.Env) {
	t.Helper()
	flags := kube.NewConfigFlags()
	flags.KubeConfig = &env.Kubeconfig
	cfg, err := helmclient.New(flags, "linkerd-viz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Releases.Last("prometheus"); err == nil {
		return
	} else if !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatalf("reading release linkerd-viz/prometheus: %v", err)
	}
	ch, err := loader.Load(filepath.Join("..", "testdata", "charts", "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	// As the helm CLI does: its field manager is "helm", not the program's name.
	helmkube.ManagedFieldsManager = "helm"
	in := action.NewInstall(cfg)
	in.WaitStrategy = helmkube.HookOnlyStrategy
	in.ReleaseName, in.Namespace = "prometheus", "linkerd-viz"
	_, err = in.Run(ch, map[string]any{"server": map[string]any{
		"service":        map[string]any{"servicePort": 9090},
		"podAnnotations": map[string]any{"linkerd.io/inject": "enabled"},
	}})
	if err != nil {
		t.Fatalf("helm install prometheus: %v", err)
	}
}
