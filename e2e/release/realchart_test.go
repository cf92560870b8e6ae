//go:build e2e

package release

import (
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshmon/meshmon/e2e/framework"
)

const realPrometheusTgz = "prometheus-29.27.0.tgz"

// alertmanagerKinds are the kinds of the alertmanager subchart's objects.
var alertmanagerKinds = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "serviceaccounts"},
}

// alertmanagerObjects names the alertmanager subchart's objects in ns with their UIDs.
func alertmanagerObjects(t *testing.T, env *framework.Env, ns string) map[string]string {
	t.Helper()
	_, dc := env.Clients(t)
	out := map[string]string{}
	for _, gvr := range alertmanagerKinds {
		l, err := dc.Resource(gvr).Namespace(ns).List(ctx(t), metav1.ListOptions{
			LabelSelector: "app.kubernetes.io/name=alertmanager,app.kubernetes.io/instance=prometheus",
		})
		if err != nil {
			t.Fatalf("listing %s in %s: %v", gvr.Resource, ns, err)
		}
		for _, it := range l.Items {
			out[gvr.Resource+"/"+it.GetName()] = string(it.GetUID())
		}
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRealChartSubchartSurvivesUpgrades installs the published prometheus chart with its
// alertmanager subchart enabled; value-only upgrades load the chart from the cache or its
// recorded source (release storage lacks subcharts), keep the subchart's objects, and
// refuse before writing when neither has the chart.
func TestRealChartSubchartSurvivesUpgrades(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-real-subchart"
	createNamespace(t, kc, ns)

	// The chart cache is this test's own, and the recorded source a copy it can delete.
	cache := t.TempDir()
	xdg := []string{"XDG_CACHE_HOME=" + cache}
	meshmon := func(args ...string) framework.Result {
		t.Helper()
		return env.Exec(t, xdg, filepath.Join(env.Bin, "kubectl-meshmon"), append(args, "-n", ns)...)
	}
	mustMeshmon := func(args ...string) framework.Result {
		t.Helper()
		r := meshmon(args...)
		if r.Code != 0 {
			t.Fatalf("kubectl-meshmon %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return r
	}
	published := env.Fixture("charts", realPrometheusTgz)
	source := filepath.Join(t.TempDir(), realPrometheusTgz)
	copyFile(t, published, source)

	r := mustMeshmon("install", "--chart", source, "--set", "alertmanager.enabled=true", "--skip-viz", "--skip-policy", "--skip-check")
	if !strings.Contains(r.Stdout, "Installed release prometheus (revision 1") {
		t.Fatalf("install output:\n%s", r.Stdout)
	}
	am := alertmanagerObjects(t, env, ns)
	if !slices.ContainsFunc(slices.Collect(maps.Keys(am)), func(k string) bool { return strings.HasPrefix(k, "statefulsets/") }) ||
		!slices.ContainsFunc(slices.Collect(maps.Keys(am)), func(k string) bool { return strings.HasPrefix(k, "configmaps/") }) ||
		!slices.ContainsFunc(slices.Collect(maps.Keys(am)), func(k string) bool { return strings.HasPrefix(k, "services/") }) {
		t.Fatalf("the alertmanager subchart's StatefulSet, ConfigMap and Service are not all there: %v", am)
	}
	if got := revisions(t, kc, ns, "prometheus"); !slices.Equal(got, []string{"v1=deployed"}) {
		t.Fatalf("revisions after install: %v", got)
	}
	subchartKept := func(step string) {
		t.Helper()
		if got := alertmanagerObjects(t, env, ns); !maps.Equal(got, am) {
			t.Errorf("after %s the alertmanager objects are %v, want the same objects and UIDs %v", step, got, am)
		}
	}
	scrapeJobs := func() string {
		t.Helper()
		cm, err := kc.CoreV1().ConfigMaps(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["prometheus.yml"]
	}

	t.Run("federate add upgrades with the recorded chart", func(t *testing.T) {
		mustMeshmon("federate", "add", "west", "--url", "http://west.example:9090/federate")
		if got := revisions(t, kc, ns, "prometheus"); !slices.Equal(got, []string{"v1=superseded", "v2=deployed"}) {
			t.Errorf("revisions after federate add: %v", got)
		}
		if !strings.Contains(scrapeJobs(), "job_name: federate-west") {
			t.Errorf("the server's configuration lacks job federate-west:\n%s", scrapeJobs())
		}
		subchartKept("federate add")
	})

	// With the recorded source gone, the cached copy (kept by digest at install) is enough.
	if err := os.Remove(source); err != nil {
		t.Fatal(err)
	}
	t.Run("federate remove upgrades with the cached chart", func(t *testing.T) {
		mustMeshmon("federate", "remove", "west")
		if got := revisions(t, kc, ns, "prometheus"); !slices.Equal(got, []string{"v1=superseded", "v2=superseded", "v3=deployed"}) {
			t.Errorf("revisions after federate remove: %v", got)
		}
		if strings.Contains(scrapeJobs(), "federate-west") {
			t.Errorf("job federate-west is still configured:\n%s", scrapeJobs())
		}
		subchartKept("federate remove")
	})

	t.Run("neither cache nor source: refused before writing, naming --chart", func(t *testing.T) {
		entries, err := os.ReadDir(cache)
		if err != nil || len(entries) == 0 {
			t.Fatalf("install kept nothing in the chart cache %s (%v): the test would not clear anything", cache, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(cache, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		before := revisions(t, kc, ns, "prometheus")
		r := meshmon("federate", "add", "west", "--url", "http://west.example:9090/federate")
		if r.Code == 0 {
			t.Fatalf("federate add succeeded without its chart:\n%s", r.Stdout)
		}
		for _, want := range []string{"--chart", "Nothing was changed", "prometheus 29.27.0"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
			}
		}
		if got := revisions(t, kc, ns, "prometheus"); !slices.Equal(got, before) {
			t.Errorf("a revision was written: %v -> %v", before, got)
		}
		if strings.Contains(scrapeJobs(), "federate-west") {
			t.Error("the refused federate add configured job federate-west")
		}
		subchartKept("the refused federate add")
	})

	t.Run("federate add --chart supplies it", func(t *testing.T) {
		mustMeshmon("federate", "add", "west", "--url", "http://west.example:9090/federate", "--chart", published)
		if got := revisions(t, kc, ns, "prometheus"); !slices.Equal(got, []string{"v1=superseded", "v2=superseded", "v3=superseded", "v4=deployed"}) {
			t.Errorf("revisions after federate add --chart: %v", got)
		}
		if !strings.Contains(scrapeJobs(), "job_name: federate-west") {
			t.Errorf("the server's configuration lacks job federate-west:\n%s", scrapeJobs())
		}
		subchartKept("federate add --chart")
	})

	// The real chart mounts the credentials' Secret: the job refers to a file, the
	// Deployment mounts the Secret there, and the token itself is nowhere but the Secret.
	t.Run("federate add with a bearer token Secret", func(t *testing.T) {
		const token = "mm-e2e-federate-token-5d2c8a"
		if _, err := kc.CoreV1().Secrets(ns).Create(ctx(t), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "west-token"}, StringData: map[string]string{"token": token},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		missing := meshmon("federate", "add", "east", "--url", "http://east.example:9090/federate", "--bearer-token-secret", "east-token", "--chart", published)
		if missing.Code == 0 || !strings.Contains(missing.Stderr, "east-token") {
			t.Errorf("federate add with a missing Secret: exit %d\n%s", missing.Code, missing.Stderr)
		}
		r := mustMeshmon("federate", "add", "west", "--url", "http://west.example:9090/federate", "--bearer-token-secret", "west-token", "--chart", published)
		if !strings.Contains(scrapeJobs(), "credentials_file: /etc/meshmon/secrets/west-token/token") {
			t.Errorf("the job does not read the token from the mounted Secret:\n%s", scrapeJobs())
		}
		d, err := kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mounted := false
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret == nil || v.Secret.SecretName != "west-token" {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, m := range c.VolumeMounts {
					mounted = mounted || (m.Name == v.Name && m.MountPath == "/etc/meshmon/secrets/west-token")
				}
			}
		}
		if !mounted {
			t.Errorf("the server Deployment does not mount Secret west-token at /etc/meshmon/secrets/west-token: %+v", d.Spec.Template.Spec.Volumes)
		}
		list := mustMeshmon("federate", "list")
		for _, out := range []string{r.Stdout + r.Stderr, list.Stdout, scrapeJobs()} {
			if strings.Contains(out, token) {
				t.Errorf("the token left its Secret:\n%s", out)
			}
		}
		if !strings.Contains(list.Stdout, "bearer from Secret west-token") {
			t.Errorf("federate list does not say where the token comes from:\n%s", list.Stdout)
		}
	})

	// Remote write on the published chart: the entry refers to mounted files, the
	// Deployment mounts the Secret, the release storage holds no credential, and remove
	// takes out what nothing else refers to.
	t.Run("remote-write add with a bearer token and a CA Secret", func(t *testing.T) {
		const token = "mm-e2e-remote-write-token-7e41b9"
		framework.RegisterSecret(t, token)
		for name, data := range map[string]map[string]string{"store-token": {"token": token}, "store-ca": {"ca.crt": "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n"}} {
			if _, err := kc.CoreV1().Secrets(ns).Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		refused := meshmon("remote-write", "add", "store", "--url", "https://store.example:8428/api/v1/write", "--bearer-token-secret", "store-token", "--chart", published)
		if refused.Code == 0 || !strings.Contains(refused.Stderr, "cluster") {
			t.Errorf("remote-write add without a cluster label: exit %d\n%s", refused.Code, refused.Stderr)
		}
		mustMeshmon("remote-write", "add", "store", "--url", "https://store.example:8428/api/v1/write", "--bearer-token-secret", "store-token",
			"--ca-secret", "store-ca", "--tenant", "team-a", "--cluster-name", "east", "--chart", published)
		cfg := scrapeJobs()
		for _, want := range []string{"remote_write:", "url: https://store.example:8428/api/v1/write", "credentials_file: /etc/meshmon/secrets/store-token/token",
			"ca_file: /etc/meshmon/secrets/store-ca/ca.crt", "X-Scope-OrgID: team-a", "cluster: east", "write_relabel_configs:"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("the server's configuration lacks %q:\n%s", want, cfg)
			}
		}
		d, err := kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mounts := map[string]string{}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, m := range c.VolumeMounts {
					if m.Name == v.Name {
						mounts[v.Secret.SecretName] = m.MountPath
					}
				}
			}
		}
		for _, s := range []string{"store-token", "store-ca"} {
			if mounts[s] != "/etc/meshmon/secrets/"+s {
				t.Errorf("Secret %s is mounted at %q, want /etc/meshmon/secrets/%s (mounts %v)", s, mounts[s], s, mounts)
			}
		}
		history, err := helmStore(kc, ns).History("prometheus")
		if err != nil {
			t.Fatal(err)
		}
		refers := 0
		for _, r := range history {
			stored, err := json.Marshal(r) // the decoded revision: values, manifest, notes
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(stored), token) {
				t.Error("a stored revision of the release holds the token")
			}
			if strings.Contains(string(stored), "/etc/meshmon/secrets/store-token/token") {
				refers++
			}
		}
		if refers == 0 {
			t.Errorf("none of the %d stored revisions refers to the mounted token: the scan read the wrong thing", len(history))
		}
		subchartKept("remote-write add")

		mustMeshmon("remote-write", "remove", "store", "--chart", published)
		if cfg := scrapeJobs(); strings.Contains(cfg, "store.example") {
			t.Errorf("remote-write remove left the entry:\n%s", cfg)
		}
		d, err = kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil && (v.Secret.SecretName == "store-token" || v.Secret.SecretName == "store-ca") {
				t.Errorf("remove kept the mount of Secret %s", v.Secret.SecretName)
			}
		}
		subchartKept("remote-write remove")
	})

	mustMeshmon("uninstall", "--delete-data", "--yes")
}
