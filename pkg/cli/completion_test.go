package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
)

// fakeCluster has two releases in linkerd-viz (the default one with two
// federation sources) and two storage classes.
func fakeCluster(t *testing.T) *kube.Clients {
	t.Helper()
	kc := fake.NewClientset(
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast-ssd"}},
	)
	values := map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{}}}}
	for _, name := range []string{"west", "east"} {
		src := scrape.FederationSource{Name: name, URL: "https://" + name + ".example.com/federate"}
		if err := src.Normalize(); err != nil {
			t.Fatal(err)
		}
		var err error
		if values, _, err = release.WithFederationSource(values, src); err != nil {
			t.Fatal(err)
		}
	}
	store := storage.Init(driver.NewSecrets(kc.CoreV1().Secrets("linkerd-viz")))
	for _, name := range []string{"prometheus", "canary"} {
		r := &rel.Release{
			Name: name, Namespace: "linkerd-viz", Version: 1, Config: values,
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "prometheus", Version: "27.3.0"}},
			Info:  &rel.Info{Status: rcommon.StatusDeployed},
		}
		if err := store.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	return &kube.Clients{Kube: kc}
}

// complete runs cobra's __complete as kubectl's completion helper and the
// shells' scripts do, and returns the candidates without descriptions.
func complete(t *testing.T, host Host, clients *kube.Clients, args ...string) []string {
	t.Helper()
	var out, errOut bytes.Buffer
	g := newInvocation(host, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(string) string { return "" })
	g.clients = clients
	root := newRootCommand(g)
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("__complete %v: %v\n%s", args, err, errOut.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, ":") {
			continue // the directive
		}
		name, _, _ := strings.Cut(line, "\t")
		got = append(got, name)
	}
	return got
}

func TestCompletionOfCommandsAndFlagValues(t *testing.T) {
	cluster := fakeCluster(t)
	for _, tc := range []struct {
		host Host
		args []string
		want []string
	}{
		{KubectlHost, []string{"inst"}, []string{"install"}},
		{KubectlHost, []string{"extension", ""}, []string{"link", "unlink"}},
		{LinkerdHost, []string{"federate", "rem"}, []string{"remove"}},
		{KubectlHost, []string{"version", "-o", ""}, []string{"text", "json", "yaml"}},
		{KubectlHost, []string{"check", "--output", ""}, healthcheck.Formats()},
		{KubectlHost, []string{"status", "--output", ""}, []string{"table", "json", "yaml"}},
		{KubectlHost, []string{"--color", ""}, []string{"auto", "always", "never"}},
		{KubectlHost, []string{"install", "--release-name", ""}, []string{"canary", "prometheus"}},
		{LinkerdHost, []string{"uninstall", "--release-name", ""}, []string{"canary", "prometheus"}},
		{KubectlHost, []string{"install", "--storage-class", ""}, []string{"fast-ssd", "standard", "-"}},
		{KubectlHost, []string{"check", "--pre", "--storage-class", ""}, []string{"fast-ssd", "standard", "-"}},
		{KubectlHost, []string{"federate", "remove", ""}, []string{"east", "west"}},
		{KubectlHost, []string{"federate", "remove", "--release-name", "canary", ""}, []string{"east", "west"}},
		// Another namespace has no releases; a second argument has nothing to complete.
		{KubectlHost, []string{"install", "-n", "monitoring", "--release-name", ""}, nil},
		{KubectlHost, []string{"federate", "remove", "west", ""}, nil},
	} {
		t.Run(tc.host.Binary+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			if got := complete(t, tc.host, cluster, tc.args...); !slices.Equal(got, tc.want) {
				t.Errorf("candidates = %q, want %q", got, tc.want)
			}
		})
	}
}

// The -o usage text is where completion reads the formats from: every -o
// in the tree must list them in the form it parses.
func TestEveryOutputFlagListsItsFormats(t *testing.T) {
	for _, host := range []Host{KubectlHost, LinkerdHost} {
		g := newInvocation(host, genericiooptions.IOStreams{}, func(string) string { return "" })
		var walk func(*cobra.Command)
		walk = func(cmd *cobra.Command) {
			cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "output" && len(outputFormats(f.Usage)) < 2 {
					t.Errorf("%s: -o usage %q does not list its formats as \"Output format: a, b or c\"", cmd.CommandPath(), f.Usage)
				}
			})
			for _, c := range cmd.Commands() {
				walk(c)
			}
		}
		walk(newRootCommand(g))
	}
}

func TestShellCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := run(t, LinkerdHost, "completion", shell)
		if code != 0 || !strings.Contains(out, "linkerd-meshmon") {
			t.Errorf("linkerd-meshmon completion %s: exit %d, stderr %q, script mentions linkerd-meshmon: %v", shell, code, errOut, strings.Contains(out, "linkerd-meshmon"))
		}
	}
}
