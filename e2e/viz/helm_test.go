//go:build e2e

package viz

import (
	"errors"
	"path/filepath"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmkube "helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/helmclient"
	"github.com/meshmon/meshmon/pkg/kube"
)

// helmConfig is a Helm SDK configuration on the test cluster, releases in namespace.
func helmConfig(t *testing.T, env *framework.Env, namespace string) *action.Configuration {
	t.Helper()
	flags := kube.NewConfigFlags()
	flags.KubeConfig = &env.Kubeconfig
	cfg, err := helmclient.New(flags, namespace, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// installChart installs a fixture chart from e2e/testdata/charts unless the release exists.
func installChart(t *testing.T, env *framework.Env, chart, name, namespace string, vals map[string]any, configure func(*action.Install)) *releasev1.Release {
	t.Helper()
	cfg := helmConfig(t, env, namespace)
	if r, err := cfg.Releases.Last(name); err == nil {
		return r.(*releasev1.Release)
	} else if !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Fatalf("reading release %s/%s: %v", namespace, name, err)
	}
	ch, err := loader.Load(filepath.Join("..", "testdata", "charts", chart))
	if err != nil {
		t.Fatalf("loading chart %s: %v", chart, err)
	}
	// As the helm CLI does: its field manager is "helm", not the program's name.
	helmkube.ManagedFieldsManager = "helm"
	in := action.NewInstall(cfg)
	in.WaitStrategy = helmkube.HookOnlyStrategy
	in.ReleaseName, in.Namespace = name, namespace
	if configure != nil {
		configure(in)
	}
	r, err := in.Run(ch, vals)
	if err != nil {
		t.Fatalf("helm install %s %s -n %s: %v", name, chart, namespace, err)
	}
	return r.(*releasev1.Release)
}

// installPrometheus installs the fixture prometheus chart as meshmon would, so the server can
// be found (the install command is tested elsewhere).
func installPrometheus(t *testing.T, env *framework.Env) {
	t.Helper()
	installChart(t, env, "prometheus", "prometheus", "linkerd-viz", map[string]any{
		"server": map[string]any{
			"service":        map[string]any{"servicePort": 9090},
			"podAnnotations": map[string]any{"linkerd.io/inject": "enabled"},
		},
	}, nil)
}

func lastRelease(t *testing.T, env *framework.Env, namespace, name string) *releasev1.Release {
	t.Helper()
	r, err := helmConfig(t, env, namespace).Releases.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*releasev1.Release)
}
