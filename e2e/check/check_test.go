//go:build e2e

package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// linkerdOutput is `linkerd check -o json`, with linkerd's field names.
type linkerdOutput struct {
	Success    bool `json:"success"`
	Categories []struct {
		CategoryName string `json:"categoryName"`
		Checks       []struct {
			Description string `json:"description"`
			Hint        string `json:"hint"`
			Error       string `json:"error"`
			Result      string `json:"result"`
		} `json:"checks"`
	} `json:"categories"`
}

func parseLinkerd(t *testing.T, stdout string) linkerdOutput {
	t.Helper()
	var out linkerdOutput
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("stdout is not linkerd's check JSON: %v\n%s", err, stdout)
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (rerun with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update to accept it):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// linkerdCheckArgs are the arguments `linkerd check` gives an extension, plus
// a flag a future linkerd may add.
func linkerdCheckArgs(t *testing.T, env *framework.Env) []string {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"check", "--as-group=[]", "--context=" + raw.CurrentContext, "--linkerd-namespace=linkerd",
		"--verbose=false", "--wait=5m0s", "--proxy=false", "--some-future-flag=1", "--output=json"}
}

// TestCheck walks one cluster through the states check must tell apart:
// nothing installed, a healthy install, a broken one, and a release whose
// volume never binds. The subtests depend on each other and run in order.
func TestCheck(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)

	t.Run("not installed", func(t *testing.T) {
		r := env.Meshmon(t, "linkerd", linkerdCheckArgs(t, env)...)
		out := parseLinkerd(t, r.Stdout)
		if !out.Success || len(out.Categories) != 1 || out.Categories[0].CategoryName != "meshmon" ||
			out.Categories[0].Checks[0].Description != "meshmon is not installed (nothing to check)" || out.Categories[0].Checks[0].Result != "success" {
			t.Errorf("linkerd check must see one passing check when meshmon is not installed:\n%s", r.Stdout)
		}
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
		}
		// Asked directly through kubectl, the missing release is a failure with the fix.
		r = env.Meshmon(t, "kubectl", "check", "-o", "short")
		if r.Code != 1 || !strings.Contains(r.Stdout, `no Helm release "prometheus" in namespace linkerd-viz: install it with `+"`meshmon install`") {
			t.Errorf("kubectl meshmon check without an install: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	// The real install: release, viz rewired, policy applied. Its final check
	// runs later, once the real Prometheus is up.
	installArgs := []string{"install", "--chart", framework.TestChart(t, "prometheus"), "--cluster-name", "east", "--scrape-interval", "2s"}
	env.MustMeshmon(t, "kubectl", append(installArgs, "--skip-check")...)
	params, err := linkerd.Discover(ctxT(t), kc, "linkerd", vizNS)
	if err != nil {
		t.Fatal(err)
	}
	srv := framework.ServerPod(t, kc, vizNS, "prometheus")
	// Rewiring viz replaced metrics-api's pod and removed the bundled
	// Prometheus: serve the pods only once that has settled.
	waitRolledOut(t, kc, vizNS, "metrics-api")
	waitGone(t, kc, vizNS, "linkerd.io/extension=viz,component=prometheus")

	// Every pod with an IP answers Prometheus' scrapes; Prometheus' own
	// proxy reports that it authorized metrics-api.
	mesh := framework.StartFakeMesh(t, kc, "linkerd", vizNS)
	metricsAPI := linkerd.Identity("metrics-api", vizNS, params.LinkerdNamespace, params.TrustDomain)
	mesh.Proxy(t, vizNS, srv.Name).SetAuthz([]framework.AuthzSample{{Server: policy.ServerName, Port: 9090, ClientID: metricsAPI, Authorization: policy.AdminAuthorizationName, Requests: 17}}, nil)

	data := t.TempDir()
	rp := framework.ReleasePrometheus{Namespace: vizNS, ConfigMap: serverName, ServiceAccount: serverName, Args: framework.ServerRetentionArgs(t, kc, vizNS, serverName), DataDir: data}
	p := framework.StartReleasePrometheus(t, env, kc, rp)
	framework.StartFakeDashboard(t, kc, vizNS, serverHost, p.URL)
	waitScraped(t, kc, mesh, p.URL, 0)
	// Restart Prometheus on the same data: what "persistence proven" looks for.
	p.Stop()
	p = framework.StartReleasePrometheus(t, env, kc, rp)
	waitScraped(t, kc, mesh, p.URL, 0)
	// The dashboard's traffic is an increase over a minute: two scrapes at least.
	time.Sleep(5 * time.Second)

	t.Run("install ends with the checks", func(t *testing.T) {
		r := env.Meshmon(t, "kubectl", installArgs...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "already up to date") || !strings.HasSuffix(r.Stdout, "Status check results are √\n") {
			t.Errorf("install over a healthy setup: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("healthy", func(t *testing.T) {
		r := env.Meshmon(t, "kubectl", "check")
		t.Logf("kubectl meshmon check (exit %d):\n%s", r.Code, r.Stdout)
		if r.Code != 0 {
			t.Errorf("exit %d, want 0\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		if r.Stderr != "" {
			t.Errorf("stderr is not empty: %q", r.Stderr)
		}
		golden(t, "healthy.table.golden", normalize(r.Stdout))

		r = env.Meshmon(t, "kubectl", "check", "-o", "short")
		if r.Code != 0 || r.Stdout != "Status check results are √\n" {
			t.Errorf("-o short of a healthy install: exit %d\n%q", r.Code, r.Stdout)
		}
	})

	t.Run("published RBAC", func(t *testing.T) { testPublishedRBAC(t, env) })

	t.Run("as linkerd check runs it", func(t *testing.T) {
		r := env.Meshmon(t, "linkerd", linkerdCheckArgs(t, env)...)
		out := parseLinkerd(t, r.Stdout)
		if !out.Success || r.Code != 0 {
			t.Errorf("success=%v exit %d\n%s\n%s", out.Success, r.Code, r.Stdout, r.Stderr)
		}
		if len(out.Categories) < 9 {
			t.Errorf("%d categories, want the whole suite", len(out.Categories))
		}
		for _, c := range out.Categories {
			if !strings.HasPrefix(c.CategoryName, "meshmon-") {
				t.Errorf("category %q does not stand out as meshmon's in linkerd check", c.CategoryName)
			}
			for _, ch := range c.Checks {
				if ch.Result != "success" || ch.Error != "" {
					t.Errorf("%s / %s: %s %s", c.CategoryName, ch.Description, ch.Result, ch.Error)
				}
			}
		}
		if r.Stderr != "" {
			t.Errorf("stderr is not empty: %q", r.Stderr)
		}
	})

	t.Run("real linkerd check", func(t *testing.T) {
		bin := os.Getenv("MESHMON_LINKERD_BIN")
		if bin == "" {
			t.Skip("set MESHMON_LINKERD_BIN to a linkerd CLI to run `linkerd check` with meshmon as an extension")
		}
		cmd := exec.Command(bin, "check", "--output", "json")
		cmd.Env = append(os.Environ(), "PATH="+env.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		_ = cmd.Run() // linkerd's own checks fail on this control plane; only meshmon's part is judged.
		if !strings.Contains(stdout.String(), `"categoryName": "meshmon-`) {
			t.Errorf("linkerd check output has no meshmon category:\n%s", stdout.String())
		}
	})

	t.Run("API requests", func(t *testing.T) {
		if n := apiRequests(t, env, kc); n == 0 || n > 80 {
			t.Errorf("%d API requests; want a few dozen", n)
		}
	})

	t.Run("broken", func(t *testing.T) {
		// viz goes back to its own Prometheus.
		env.MustMeshmon(t, "kubectl", "viz", "restore")
		waitRolledOut(t, kc, vizNS, "metrics-api")
		waitRolledOut(t, kc, vizNS, "prometheus")
		// The policy is gone; Prometheus' proxy starts refusing Grafana.
		env.MustMeshmon(t, "kubectl", "policy", "delete")
		grafana := linkerd.Identity("grafana", "grafana", params.LinkerdNamespace, params.TrustDomain)
		mesh.Proxy(t, vizNS, srv.Name).SetAuthz(
			[]framework.AuthzSample{{Server: policy.ServerName, Port: 9090, ClientID: metricsAPI, Authorization: policy.AdminAuthorizationName, Requests: 17}},
			[]framework.AuthzSample{{Server: policy.ServerName, Port: 9090, ClientID: grafana, Requests: 4}})
		// Two proxies stop answering.
		for _, prefix := range []string{"tap-injector-", "web-"} {
			if err := mesh.ProxyOf(t, vizNS, prefix).Stop(); err != nil {
				t.Fatalf("stopping the proxy of %s*: %v", prefix, err)
			}
		}
		// prometheus-operator, with a ServiceMonitor naming a port its Service lacks.
		env.KubectlApply(t, operatorCRDs)
		env.Kubectl(t, "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "crd/prometheuses.monitoring.coreos.com", "--timeout=60s")
		env.KubectlApply(t, ordersApp)
		waitScraped(t, kc, mesh, p.URL, 2)

		r := env.Meshmon(t, "kubectl", "check")
		t.Logf("kubectl meshmon check (exit %d):\n%s", r.Code, r.Stdout)
		if r.Code != 1 {
			t.Errorf("exit %d, want 1\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		golden(t, "broken.table.golden", normalize(r.Stdout))

		// linkerd's --wait=5m0s would retry the down targets for five
		// minutes, as linkerd retries its own data-plane checks.
		args := linkerdCheckArgs(t, env)
		for i, a := range args {
			if strings.HasPrefix(a, "--wait=") {
				args[i] = "--wait=0s"
			}
		}
		r = env.Meshmon(t, "linkerd", args...)
		t.Logf("linkerd-meshmon %s:\n%s", strings.Join(args, " "), r.Stdout)
		out := parseLinkerd(t, r.Stdout)
		failed := 0
		for _, c := range out.Categories {
			for _, ch := range c.Checks {
				if ch.Error != "" && ch.Result == "error" {
					failed++
					if !strings.HasPrefix(ch.Hint, "https://github.com/meshmon/meshmon/blob/main/docs/checks.md#mm-") {
						t.Errorf("%s: hint %q", ch.Description, ch.Hint)
					}
				}
			}
		}
		if out.Success || failed < 5 {
			t.Errorf("linkerd's JSON: success=%v with %d failed checks, want at least 5\n%s", out.Success, failed, r.Stdout)
		}
	})

	t.Run("volume pending", func(t *testing.T) {
		// A class without volumes: the claim never binds, the pod never starts.
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "slow"}, Provisioner: "kubernetes.io/no-provisioner",
			VolumeBindingMode: ptr(storagev1.VolumeBindingImmediate)}
		if _, err := kc.StorageV1().StorageClasses().Create(ctxT(t), sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		vals, _ := meshmonValues(t, kc, release.ValuesOptions{ReleaseName: "pending", Namespace: "monitoring", StorageClass: "slow"})
		installRelease(t, env, "pending", "monitoring", vals)
		framework.Eventually(t, time.Minute, func() error {
			pods, err := kc.CoreV1().Pods("monitoring").List(ctxT(t), metav1.ListOptions{LabelSelector: releaseSelector("pending")})
			if err != nil {
				return err
			}
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
						return nil
					}
				}
			}
			return errors.New("the pending release's pod is not reported unschedulable yet")
		})
		r := env.Meshmon(t, "kubectl", "check", "-n", "monitoring", "--release-name", "pending", "--category", "persistence")
		t.Logf("kubectl meshmon check -n monitoring --release-name pending --category persistence (exit %d):\n%s", r.Code, r.Stdout)
		if r.Code != 1 {
			t.Errorf("exit %d, want 1\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		golden(t, "pvc-pending.table.golden", normalize(r.Stdout))
	})

	t.Run("API requests with a thousand more meshed pods", func(t *testing.T) {
		base := apiRequests(t, env, kc)
		addMeshedPods(t, kc, 1000)
		n := apiRequests(t, env, kc)
		// Pods are listed in one request: 1,000 more pods cost none.
		if base == 0 || n > base {
			t.Errorf("%d API requests with 1,000 more pods, %d without; the count must not grow with the mesh", n, base)
		}
	})

	t.Run("federation", func(t *testing.T) {
		// Cluster "west": a real Prometheus scraping one proxy-like target.
		west := startWestPrometheus(t)
		r := env.Meshmon(t, "kubectl", "federate", "add", "west", "--url", west.URL, "--interval", "2s", "--dry-run")
		if r.Code != 0 || !strings.Contains(r.Stdout, "would be upgraded with chart prometheus ") || !strings.Contains(r.Stdout, "job_name: federate-west") ||
			!strings.Contains(r.Stdout, `- '{job="linkerd-proxy"}'`) {
			t.Errorf("federate add --dry-run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if r := env.Meshmon(t, "kubectl", "federate", "list"); !strings.HasPrefix(r.Stdout, "No federation sources") {
			t.Errorf("the dry run added a source:\n%s", r.Stdout)
		}
		r = env.Meshmon(t, "kubectl", "federate", "add", "west", "--url", west.URL, "--interval", "2s")
		if r.Code != 0 || !strings.Contains(r.Stdout, "job federate-west scrapes "+west.URL+"/federate") || !strings.Contains(r.Stdout, "Upgraded release prometheus to revision 2") {
			t.Fatalf("federate add: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		r = env.Meshmon(t, "linkerd", "federate", "add", "west", "--url", west.URL, "--interval", "2s")
		if r.Code != 0 || !strings.Contains(r.Stdout, "already configured (job federate-west, revision 2)") {
			t.Errorf("federate add again: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		r = env.Meshmon(t, "kubectl", "federate", "list", "-o", "json")
		var listed []scrape.FederationSource
		if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil || len(listed) != 1 || listed[0].URL != west.URL+"/federate" || listed[0].Interval != "2s" {
			t.Errorf("federate list -o json: %v\n%s", err, r.Stdout)
		}
		// install with its usual flags keeps the source.
		r = env.Meshmon(t, "kubectl", append(installArgs, "--skip-check", "--skip-viz", "--skip-policy")...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "already up to date (revision 2") || !strings.Contains(r.Stdout, "Federation jobs kept from the deployed release: federate-west") {
			t.Errorf("install after federate add: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}

		// The release's Prometheus loads the new prometheus.yml (a restart here; the
		// chart's config reloader in a real pod) and pulls west's series.
		p.Stop()
		p = framework.StartReleasePrometheus(t, env, kc, rp)
		pc, err := prom.New(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, time.Minute, func() error {
			v, _, err := pc.QueryVector(ctxT(t), `request_total{cluster="west",job="linkerd-proxy"}`, time.Time{})
			if err != nil || len(v) == 0 {
				return fmt.Errorf("no series federated from west yet (%v)", err)
			}
			return nil
		})
		r = env.Meshmon(t, "kubectl", "check", "--category", "federation")
		t.Logf("kubectl meshmon check --category federation (exit %d):\n%s", r.Code, r.Stdout)
		if r.Code != 0 || !strings.Contains(r.Stdout, "√ federation sources are up") {
			t.Errorf("with west up: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}

		// West goes away: the check names the job and the error.
		west.Stop()
		framework.Eventually(t, time.Minute, func() error {
			ts, err := pc.Targets(ctxT(t))
			if err != nil {
				return err
			}
			if j, _ := ts.Job("federate-west"); j.Down != 1 {
				return fmt.Errorf("federate-west: %d down", j.Down)
			}
			return nil
		})
		r = env.Meshmon(t, "kubectl", "check", "--category", "federation", "-o", "short")
		t.Logf("kubectl meshmon check --category federation -o short (exit %d):\n%s", r.Code, r.Stdout)
		if r.Code != 1 || !strings.Contains(r.Stdout, "× federation sources are up") || !strings.Contains(r.Stdout, "federate-west") {
			t.Errorf("with west down: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}

		r = env.Meshmon(t, "kubectl", "federate", "remove", "west")
		if r.Code != 0 || !strings.Contains(r.Stdout, "Removed federation source west (job federate-west); upgraded release prometheus to revision 3") {
			t.Errorf("federate remove: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		r = env.Meshmon(t, "kubectl", "federate", "remove", "west")
		if r.Code != 1 || !strings.Contains(r.Stderr, `no such federation source "west" in release prometheus: there are none`) {
			t.Errorf("removing it twice: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		r = env.Meshmon(t, "kubectl", "federate", "list")
		if r.Code != 0 || r.Stdout != "No federation sources in release prometheus (namespace linkerd-viz).\n" {
			t.Errorf("federate list after remove: exit %d\n%q", r.Code, r.Stdout)
		}
		r = env.Meshmon(t, "kubectl", "federate", "add", "west", "--url", west.URL, "-n", "monitoring", "--release-name", "nope")
		if r.Code != 1 || !strings.Contains(r.Stderr, "release nope is not installed in namespace monitoring: install it first") {
			t.Errorf("federate add without a release: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("published RBAC uninstalls and installs", func(t *testing.T) { testUninstallInstallRoles(t, env, installArgs) })
}

// startWestPrometheus runs a second real Prometheus, external label cluster=west,
// scraping one proxy-like metrics endpoint, both on loopback.
func startWestPrometheus(t *testing.T) *promtest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "request_total{direction=\"inbound\"} 7\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return promtest.Start(t, promtest.Options{Config: fmt.Sprintf(`global:
  scrape_interval: 1s
  external_labels: {cluster: west}
scrape_configs:
- job_name: linkerd-proxy
  static_configs: [{targets: [%q]}]
`, ln.Addr().String())})
}

// apiRequests runs the health suite with client-go's request logging on
// (--verbose, klog v6) and counts the requests.
func apiRequests(t *testing.T, env *framework.Env, kc kubernetes.Interface) int {
	t.Helper()
	r := env.Meshmon(t, "linkerd", "check", "--verbose")
	n := len(regexp.MustCompile(`(?m)"Response" verb="[A-Z]+"|^\S+ \S+\s+\d+ round_trippers.go:\d+\] (GET|POST|PUT|PATCH|DELETE) `).FindAllString(r.Stderr, -1))
	pods, err := kc.CoreV1().Pods("").List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURE the health suite made %d Kubernetes API requests on a cluster with %d pods", n, len(pods.Items))
	return n
}

func ptr[T any](v T) *T { return &v }

// operatorCRDs are minimal prometheus-operator CRDs: the checks only read
// the objects, so their schema can stay open.
const operatorCRDs = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheuses.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: Prometheus, listKind: PrometheusList, plural: prometheuses, singular: prometheus}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// ordersApp is a monitored app whose ServiceMonitor asks for port
// "metrics" while the Service calls it "http-metrics".
const ordersApp = `
apiVersion: v1
kind: Namespace
metadata: {name: orders}
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: orders, labels: {app: orders}}
spec:
  selector: {app: orders}
  ports:
  - {name: http-metrics, port: 8080, targetPort: 8080}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: orders, namespace: orders}
spec:
  selector: {matchLabels: {app: orders}}
  endpoints:
  - {port: metrics, path: /metrics}
`
