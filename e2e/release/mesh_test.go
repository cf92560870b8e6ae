//go:build e2e

package release

import (
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
)

var serverGVR = schema.GroupVersionResource{Group: "policy.linkerd.io", Version: "v1beta3", Resource: "servers"}

// vizState is what install changes in linkerd-viz and uninstall must put back.
type vizState struct {
	metricsAPIArgs  []string
	bundled         bool
	externalPromAnn string
}

func readViz(t *testing.T, kc kubernetes.Interface) vizState {
	t.Helper()
	d, err := kc.AppsV1().Deployments("linkerd-viz").Get(ctx(t), "metrics-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var s vizState
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "metrics-api" {
			s.metricsAPIArgs = c.Args
		}
	}
	_, err = kc.AppsV1().Deployments("linkerd-viz").Get(ctx(t), "prometheus", metav1.GetOptions{})
	switch {
	case err == nil:
		s.bundled = true
	case !apierrors.IsNotFound(err):
		t.Fatal(err)
	}
	ns, err := kc.CoreV1().Namespaces().Get(ctx(t), "linkerd-viz", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.externalPromAnn = ns.Annotations["viz.linkerd.io/external-prometheus"]
	return s
}

func serverExists(t *testing.T, dc dynamic.Interface) bool {
	t.Helper()
	_, err := dc.Resource(serverGVR).Namespace("linkerd-viz").Get(ctx(t), "prometheus-server-admin", metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// install performs release → viz → policy; uninstall undoes viz and policy and
// keeps the data.
func TestInstallWiresVizAndPolicyAndUninstallUndoesThem(t *testing.T) {
	env := framework.Current(t)
	kc, dc := env.Clients(t)
	before := readViz(t, kc)
	if !before.bundled || before.externalPromAnn != "" {
		t.Fatalf("fixture viz should start with its bundled Prometheus and no external annotation: %+v", before)
	}
	const url = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"

	dry := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", framework.TestChart(t, "prometheus"), "--dry-run")
	for _, want := range []string{"# linkerd-viz (cli-installed, namespace linkerd-viz): point it at " + url, "-prometheus-url=" + url, "kind: Server", "name: prometheus-server-admin", "accessPolicy: deny"} {
		if !strings.Contains(dry.Stdout, want) {
			t.Errorf("install --dry-run output lacks %q", want)
		}
	}
	if after := readViz(t, kc); !slices.Equal(after.metricsAPIArgs, before.metricsAPIArgs) || !after.bundled || serverExists(t, dc) {
		t.Fatalf("--dry-run changed viz or applied policy: %+v", after)
	}

	r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", framework.TestChart(t, "prometheus"))
	wired := readViz(t, kc)
	if !slices.Contains(wired.metricsAPIArgs, "-prometheus-url="+url) {
		t.Errorf("metrics-api args after install = %v, want -prometheus-url=%s", wired.metricsAPIArgs, url)
	}
	if wired.bundled || wired.externalPromAnn != url {
		t.Errorf("after install: bundled Prometheus present=%v, namespace annotation=%q", wired.bundled, wired.externalPromAnn)
	}
	if !serverExists(t, dc) {
		t.Errorf("install did not apply the policy Server; stdout:\n%s", r.Stdout)
	}

	// Running it again changes nothing anywhere.
	again := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", framework.TestChart(t, "prometheus"))
	if !strings.Contains(again.Stdout, "already up to date") || !strings.Contains(again.Stderr, "linkerd-viz already uses") || !strings.Contains(again.Stderr, "authorization policy unchanged") {
		t.Errorf("second install was not a no-op:\nstdout:\n%s\nstderr:\n%s", again.Stdout, again.Stderr)
	}

	// An uninstall aimed at another release (another namespace, another name) leaves viz
	// pointing at this one and its policy in place: it undoes only what its own release did.
	for _, other := range [][]string{{"-n", "team-a"}, {"--release-name", "other"}} {
		r := env.Meshmon(t, "kubectl", append([]string{"uninstall"}, other...)...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "is not installed in namespace") {
			t.Errorf("uninstall %v: exit %d, want 1 and the release not found:\n%s", other, r.Code, r.Stderr)
		}
		if !strings.Contains(r.Stdout, "linkerd-viz was left as it is") || !strings.Contains(r.Stdout, url) {
			t.Errorf("uninstall %v does not say it left linkerd-viz on %s:\n%s", other, url, r.Stdout)
		}
		if got := readViz(t, kc); !slices.Equal(got.metricsAPIArgs, wired.metricsAPIArgs) || got.bundled || got.externalPromAnn != url {
			t.Errorf("uninstall %v changed linkerd-viz, which another release uses: %+v, was %+v", other, got, wired)
		}
		if !serverExists(t, dc) {
			t.Errorf("uninstall %v deleted this release's policy Server", other)
		}
	}

	claim := waitBound(t, kc, "linkerd-viz", "prometheus-server")
	env.MustMeshmon(t, "linkerd", "uninstall")
	restored := readViz(t, kc)
	if !slices.Equal(restored.metricsAPIArgs, before.metricsAPIArgs) || !restored.bundled || restored.externalPromAnn != "" {
		t.Errorf("uninstall did not restore viz: before %+v, after %+v", before, restored)
	}
	if serverExists(t, dc) {
		t.Error("uninstall left the policy Server behind")
	}
	if kept := pvc(t, kc, "linkerd-viz", "prometheus-server"); kept.UID != claim.UID {
		t.Errorf("uninstall did not keep the PVC (UID %s, was %s)", kept.UID, claim.UID)
	}
	env.MustMeshmon(t, "kubectl", "uninstall", "--delete-data", "--yes")
}
