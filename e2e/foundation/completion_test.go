//go:build e2e

package foundation

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// candidates are the completions in cobra's __complete output, without
// descriptions and the directive line.
func candidates(out string) []string {
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		name, _, _ := strings.Cut(line, "\t")
		got = append(got, name)
	}
	return got
}

// kubectl completes `kubectl meshmon …` through the completion helper
// shipped in the archive, and the values come from the real cluster: its
// storage classes, the Helm releases in the namespace and a release's
// federation sources.
func TestKubectlCompletesThePlugin(t *testing.T) {
	env := framework.Current(t)
	root := repoRootDir(t)
	kc, _ := env.Clients(t)

	// A release as Helm stores it, with two federation sources.
	const ns, name = "linkerd-viz", "completion-e2e"
	values := map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{}}}}
	for _, src := range []string{"west", "east"} {
		s := scrape.FederationSource{Name: src, URL: "https://" + src + ".example.com/federate"}
		if err := s.Normalize(); err != nil {
			t.Fatal(err)
		}
		var err error
		if values, _, err = release.WithFederationSource(values, s); err != nil {
			t.Fatal(err)
		}
	}
	store := storage.Init(driver.NewSecrets(kc.CoreV1().Secrets(ns)))
	if err := store.Create(&rel.Release{
		Name: name, Namespace: ns, Version: 1, Config: values,
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "prometheus", Version: "27.3.0"}},
		Info:  &rel.Info{Status: rcommon.StatusDeployed},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kc.CoreV1().Secrets(ns).Delete(context.Background(), "sh.helm.release.v1."+name+".v1", metav1.DeleteOptions{})
	})

	helper := t.TempDir()
	script, err := os.ReadFile(filepath.Join(root, "plugins", "kubectl", "kubectl_complete-meshmon"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(helper, "kubectl_complete-meshmon"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	vars := []string{"PATH=" + strings.Join([]string{helper, env.Bin, env.K8sBin, "/usr/sbin:/usr/bin:/sbin:/bin"}, string(os.PathListSeparator))}
	kubectl := filepath.Join(env.K8sBin, "kubectl")

	for _, tc := range []struct {
		args []string
		want []string // all of these, in this order, among the candidates
	}{
		{[]string{"inst"}, []string{"install"}},
		{[]string{"version", "-o", ""}, []string{"text", "json", "yaml"}},
		{[]string{"install", "--storage-class", ""}, []string{"standard", "-"}},
		{[]string{"install", "--release-name", ""}, []string{name}},
		{[]string{"federate", "remove", "--release-name", name, ""}, []string{"east", "west"}},
	} {
		args := append([]string{"__complete", "meshmon"}, tc.args...)
		r := env.Exec(t, vars, kubectl, args...)
		if r.Code != 0 {
			t.Errorf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
			continue
		}
		got := candidates(r.Stdout)
		var present []string
		for _, c := range got {
			if slices.Contains(tc.want, c) {
				present = append(present, c)
			}
		}
		if !slices.Equal(present, tc.want) {
			t.Errorf("kubectl %s: candidates %q, want %q among them", strings.Join(args, " "), got, tc.want)
		}
	}

	// The Linkerd host completes through its own shell scripts; their
	// engine is the same __complete.
	r := env.MustMeshmon(t, "linkerd", "__complete", "federate", "remove", "--release-name", name, "")
	if got := candidates(r.Stdout); !slices.Equal(got, []string{"east", "west"}) {
		t.Errorf("linkerd-meshmon __complete federate remove = %q", got)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := env.MustMeshmon(t, "linkerd", "completion", shell)
		if !strings.Contains(r.Stdout, "linkerd-meshmon") {
			t.Errorf("linkerd-meshmon completion %s does not name the program", shell)
		}
	}
}
