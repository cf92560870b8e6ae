package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic/fake"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// memInvocation is an invocation on fake clients and Helm's memory storage, with release
// meshmon's default installed from the fixture chart.
func memInvocation(t *testing.T, objs ...runtime.Object) (*invocation, *action.Configuration, *bytes.Buffer) {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	mem := driver.NewMemory()
	mem.SetNamespace(defaults.VizNamespace)
	cfg.Releases = storage.Init(mem)
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard, LogOutput: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	out := &bytes.Buffer{}
	inv := newInvocation(KubectlHost, genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: io.Discard}, func(string) string { return "" })
	inv.color = "never"
	inv.clients = &kube.Clients{Kube: kfake.NewClientset(objs...), Dynamic: fake.NewSimpleDynamicClient(runtime.NewScheme())}
	inv.newTarget = func(c *kube.Clients, namespace, name string) (*release.Target, error) {
		return &release.Target{Kube: c.Kube, Helm: cfg, Namespace: namespace, Release: name}, nil
	}
	ctx := context.Background()
	lc, err := release.LoadChart(ctx, release.ChartSource{Chart: filepath.Join(fixtures.RepoRoot(t), "e2e", "testdata", "charts", "prometheus")})
	if err != nil {
		t.Fatal(err)
	}
	p, err := release.NewPlan(ctx, release.PlanInput{Chart: lc, Values: release.ValuesOptions{Scrape: linkerd.Defaults()}, KubeVersion: "v1.37.1"})
	if err != nil {
		t.Fatal(err)
	}
	tg, _ := inv.newTarget(inv.clients, defaults.VizNamespace, defaults.ReleaseName)
	if _, err := release.Apply(ctx, tg, p, release.ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	return inv, cfg, out
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: defaults.VizNamespace}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func addOptions(inv *invocation, name string) *remoteWriteAddOptions {
	return &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{Name: name}}
}

func runOptions(t *testing.T, o options, args ...string) error {
	t.Helper()
	if err := completeAndValidate(o, args...); err != nil {
		return err
	}
	return o.Run(context.Background())
}

// TestRemoteWriteKeepsCredentialsOutOfTheRelease adds an endpoint with bearer and basic
// auth from Secrets holding unique strings, then looks for those strings in every stored
// revision (config, chart values, manifest: the whole record as JSON) and in the dry run.
func TestRemoteWriteKeepsCredentialsOutOfTheRelease(t *testing.T) {
	const token, user, pass = "tok-3f9a1c7e5b", "usr-8d2e4a6c0f", "pwd-1b7c9e3a5d"
	inv, cfg, out := memInvocation(t,
		secret("vm-token", map[string]string{"token": token}),
		secret("vm-basic", map[string]string{"username": user, "password": pass}))

	dry := addOptions(inv, "vm")
	dry.endpoint.URL, dry.bearer, dry.clusterName, dry.dryRun = "https://vm.example.com/api/v1/write", "vm-token", "west", true
	if err := runOptions(t, dry, "vm"); err != nil {
		t.Fatal(err)
	}
	add := addOptions(inv, "vm")
	add.endpoint.URL, add.bearer, add.clusterName, add.tenant = "https://vm.example.com/api/v1/write", "vm-token", "west", "team-a"
	if err := runOptions(t, add, "vm"); err != nil {
		t.Fatal(err)
	}
	basic := addOptions(inv, "mimir")
	basic.endpoint.URL, basic.basicAuth, basic.endpoint.QueryURL = "https://mimir.example.com/api/v1/push", "vm-basic", "https://mimir.example.com/prometheus"
	if err := runOptions(t, basic, "mimir"); err != nil {
		t.Fatal(err)
	}
	basicDry := addOptions(inv, "mimir")
	basicDry.endpoint.URL, basicDry.basicAuth, basicDry.dryRun = "https://mimir.example.com/api/v1/push", "vm-basic", true
	if err := runOptions(t, basicDry, "mimir"); err != nil {
		t.Fatal(err)
	}
	list := &remoteWriteListOptions{releaseReader{inv: inv, releaseName: defaults.ReleaseName, output: format("json", "table", "json", "yaml")}}
	if err := runOptions(t, list); err != nil {
		t.Fatal(err)
	}
	hist, err := cfg.Releases.History(defaults.ReleaseName)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d revisions, %v", len(hist), err)
	}
	var stored bytes.Buffer
	for _, r := range hist {
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		stored.Write(raw)
	}
	for _, s := range []string{token, user, pass} {
		if strings.Contains(stored.String(), s) {
			t.Errorf("the release record holds credential %q", s)
		}
		if strings.Contains(out.String(), s) {
			t.Errorf("the output holds credential %q", s)
		}
	}
	// The record does hold the references, so the search above looks at the right thing.
	for _, want := range []string{"/etc/meshmon/secrets/vm-token/token", "/etc/meshmon/secrets/vm-basic/password", "meshmon-secret-vm-basic", "X-Scope-OrgID"} {
		if !strings.Contains(stored.String(), want) {
			t.Errorf("the release record lacks %q", want)
		}
	}
	for _, want := range []string{"credentials_file: /etc/meshmon/secrets/vm-token/token", "password_file: /etc/meshmon/secrets/vm-basic/password", "secretName: vm-basic", `"queryURL": "https://mimir.example.com/prometheus"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRemoteWriteAddRefusals(t *testing.T) {
	inv, cfg, _ := memInvocation(t, secret("tok", map[string]string{"other": "x"}))
	for _, tc := range []struct {
		name string
		mod  func(*remoteWriteAddOptions)
		want string
	}{
		{"no cluster label", func(*remoteWriteAddOptions) {}, "no external label cluster"},
		{"missing Secret", func(o *remoteWriteAddOptions) { o.bearer = "nope"; o.clusterName = "west" }, "kubectl create secret generic nope -n linkerd-viz --from-literal=token=..."},
		{"missing key", func(o *remoteWriteAddOptions) { o.bearer = "tok"; o.clusterName = "west" }, `secret tok in namespace linkerd-viz has no key "token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := addOptions(inv, "vm")
			o.endpoint.URL = "http://vm.example.com/api/v1/write"
			tc.mod(o)
			err := runOptions(t, o, "vm")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if h, _ := cfg.Releases.History(defaults.ReleaseName); len(h) != 1 {
		t.Errorf("a refused add wrote revision %d", len(h))
	}
	rm := &remoteWriteRemoveOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}
	if err := runOptions(t, rm, "vm"); err == nil || !strings.Contains(err.Error(), `no remote-write endpoint "vm"`) {
		t.Errorf("removing a missing endpoint: %v", err)
	}
}
