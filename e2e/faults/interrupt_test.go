//go:build e2e

package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/viz"
)

// vizNS is where the fixtures' CLI-installed linkerd-viz runs, and where the rows below
// install meshmon's release (the default namespace).
const vizNS = "linkerd-viz"

// TestInterruptedSteps sends SIGINT to meshmon at each later step of install (viz, policy,
// check), during uninstall and during federate add's release wait. Each step is held at a
// known request by a proxy in front of the API server (or, for the check and the release
// wait, by a progress line of a step that lasts for real). After each interruption the cluster
// must be in the state docs/install.md describes, and a rerun must converge to the state an
// uninterrupted run leaves. The rows share the cluster and run in order; each starts with no
// release and linkerd-viz as the fixtures installed it.
func TestInterruptedSteps(t *testing.T) {
	env := framework.Current(t)
	cleanSlate(t, env)
	before := takeState(t, env)
	if before.Bundled == "absent" {
		t.Fatalf("linkerd-viz has no bundled Prometheus to start from: %+v", before)
	}
	// The reference: what an uninterrupted install leaves, and an uninterrupted uninstall.
	env.MustMeshmon(t, "kubectl", "install", "--chart", chart, "--skip-check")
	installed := takeState(t, env)
	if installed.Release != "deployed" || len(installed.Policy) == 0 || installed.Annotations[viz.AnnotationRecord] == "" || installed.Bundled != "absent" {
		t.Fatalf("an uninterrupted install left an unexpected state: %+v", installed)
	}
	env.MustMeshmon(t, "kubectl", "uninstall")
	sameState(t, "after an uninterrupted uninstall", takeState(t, env), before)

	for _, row := range []struct {
		name string
		run  func(t *testing.T, env *framework.Env, before, installed clusterState)
	}{
		{"SIGINT at the viz step", interruptedViz},
		{"SIGINT at the policy step", interruptedPolicy},
		{"SIGINT at the check step", interruptedCheck},
		{"SIGINT during uninstall", interruptedUninstall},
		{"SIGINT during the federate add release wait", interruptedFederateAdd},
		{"viz configure racing an update of metrics-api", vizConfigureRace},
	} {
		t.Run(row.name, func(t *testing.T) { row.run(t, env, before, installed) })
	}
}

func installStepArgs(extra ...string) []string {
	return append([]string{"install", "--chart", chart}, extra...)
}

// interruptedViz: SIGINT while the viz step waits on its delete of the bundled Prometheus
// (the record, metrics-api's flag and the backup copy are written by then).
func interruptedViz(t *testing.T, env *framework.Env, before, installed clusterState) {
	h := holdRequest(t, env, func(r *http.Request) bool {
		return r.Method == http.MethodDelete && r.URL.Path == "/apis/apps/v1/namespaces/"+vizNS+"/deployments/"+viz.BundledPrometheus
	})
	p := startMeshmon(t, env, installStepArgs("--skip-check", "--kubeconfig", h.kubeconfig)...)
	h.waitHeld(t, p)
	interrupt(t, p, "install interrupted at the viz step")
	if !strings.Contains(p.output(), "put back") {
		t.Errorf("the interrupted viz step does not say linkerd-viz was put back:\n%s", p.output())
	}
	got := takeState(t, env)
	want := before
	want.Release = "deployed"
	sameState(t, "after SIGINT at the viz step (release installed, viz as before, no policy)", got, want)

	env.MustMeshmon(t, "kubectl", installStepArgs("--skip-check")...)
	sameState(t, "after the rerun", takeState(t, env), installed)
	env.MustMeshmon(t, "kubectl", "uninstall")
	sameState(t, "after uninstall", takeState(t, env), before)
}

// interruptedPolicy: SIGINT while the policy step applies the Server, its last object.
func interruptedPolicy(t *testing.T, env *framework.Env, before, installed clusterState) {
	h := holdRequest(t, env, func(r *http.Request) bool {
		return r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/namespaces/"+vizNS+"/servers/") && r.URL.Query().Get("dryRun") == ""
	})
	p := startMeshmon(t, env, installStepArgs("--skip-check", "--kubeconfig", h.kubeconfig)...)
	h.waitHeld(t, p)
	interrupt(t, p, "install interrupted at the policy step")
	if !strings.Contains(p.output(), "nothing of it is in place") {
		t.Errorf("the interrupted policy step does not say the policy was taken out again:\n%s", p.output())
	}
	got := takeState(t, env)
	want := installed
	want.Policy = before.Policy
	sameState(t, "after SIGINT at the policy step (release installed, viz rewired, no policy object)", got, want)

	env.MustMeshmon(t, "kubectl", installStepArgs("--skip-check")...)
	sameState(t, "after the rerun", takeState(t, env), installed)
	env.MustMeshmon(t, "kubectl", "uninstall")
	sameState(t, "after uninstall", takeState(t, env), before)
}

// interruptedCheck: SIGINT while the final checks wait for a Prometheus that never answers
// (the release's pod is kwok's; nothing serves its port), once the release category is
// printed. --check-wait is longer than interrupt's hang guard: checks that went on retrying
// after the signal fail the row.
func interruptedCheck(t *testing.T, env *framework.Env, _, installed clusterState) {
	p := startMeshmon(t, env, installStepArgs("--check-wait", "5m")...)
	p.waitLine(t, "meshmon-release")
	interrupt(t, p, "install interrupted at the check step")
	sameState(t, "after SIGINT at the check step (everything installed: the checks write nothing)", takeState(t, env), installed)
	r := env.MustMeshmon(t, "kubectl", installStepArgs("--skip-check")...)
	if !strings.Contains(r.Stdout, "already up to date") {
		t.Errorf("the rerun after an interrupted check changed the release:\n%s", r.Stdout)
	}
	sameState(t, "after the rerun", takeState(t, env), installed)
}

// interruptedUninstall: SIGINT while uninstall's viz restore deletes meshmon's backup copy
// (metrics-api's flag is back and the bundled Prometheus recreated by then). Nothing is
// uninstalled; the record stays, so a rerun finishes the restore.
func interruptedUninstall(t *testing.T, env *framework.Env, before, installed clusterState) {
	env.MustMeshmon(t, "kubectl", installStepArgs("--skip-check")...)
	sameState(t, "before uninstall", takeState(t, env), installed)
	h := holdRequest(t, env, func(r *http.Request) bool {
		return r.Method == http.MethodDelete && r.URL.Path == "/api/v1/namespaces/"+vizNS+"/configmaps/"+viz.BackupConfigMap
	})
	p := startMeshmon(t, env, "uninstall", "--kubeconfig", h.kubeconfig)
	h.waitHeld(t, p)
	interrupt(t, p, "uninstall interrupted while restoring linkerd-viz")
	if !strings.Contains(p.output(), "nothing was uninstalled") {
		t.Errorf("the interrupted uninstall does not say nothing was uninstalled:\n%s", p.output())
	}
	got := takeState(t, env)
	if got.Release != "deployed" || !reflect.DeepEqual(got.Policy, installed.Policy) {
		t.Errorf("the interrupted uninstall removed the release or the policy: release %s, policy %v", got.Release, got.Policy)
	}
	if got.Annotations[viz.AnnotationRecord] == "" || !got.Backup {
		t.Errorf("the interrupted restore dropped the record or the backup a rerun needs: %+v", got)
	}
	if !slices.Equal(got.MetricsAPIArgs, before.MetricsAPIArgs) {
		t.Errorf("metrics-api args %q, want the restored %q", got.MetricsAPIArgs, before.MetricsAPIArgs)
	}
	env.MustMeshmon(t, "kubectl", "uninstall")
	sameState(t, "after the rerun of uninstall", takeState(t, env), before)
}

// interruptedFederateAdd: SIGINT while federate add waits for the upgraded release, whose pod
// cannot be scheduled (every node cordoned); the nodes are uncordoned right after the signal
// so that the rollback's own wait can end. The upgrade is rolled back; a rerun adds the source.
func interruptedFederateAdd(t *testing.T, env *framework.Env, before, installed clusterState) {
	kc, _ := env.Clients(t)
	env.MustMeshmon(t, "kubectl", installStepArgs("--skip-check")...)
	sameState(t, "installed", takeState(t, env), installed)
	add := []string{"federate", "add", "west", "--url", "http://west.example:9090/federate"}
	revs := revisions(t, kc, vizNS)

	cordon(t, kc, true)
	t.Cleanup(func() { cordon(t, kc, false) })
	d, err := kc.AppsV1().Deployments(vizNS).Get(ctxT(t), "prometheus-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel := metav1.FormatLabelSelector(d.Spec.Selector)
	zero := int64(0)
	if err := kc.CoreV1().Pods(vizNS).DeleteCollection(ctxT(t), metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{LabelSelector: sel}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, time.Minute, func() error {
		d, err := kc.AppsV1().Deployments(vizNS).Get(ctxT(t), "prometheus-server", metav1.GetOptions{})
		if err != nil || d.Status.ReadyReplicas != 0 {
			return fmt.Errorf("prometheus-server still ready (%v): %d", err, d.Status.ReadyReplicas)
		}
		return nil
	})

	p := startMeshmon(t, env, add...)
	p.waitLine(t, "waiting for Deployment prometheus-server")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cordon(t, kc, false)
	p.wait(t, 6*time.Minute)
	t.Logf("federate add interrupted in the release wait: exit %d after %s\n%s", p.code, p.took, p.output())
	if p.code != 130 {
		t.Errorf("exit %d, want 130", p.code)
	}
	if !strings.Contains(p.output(), "rolled back") {
		t.Errorf("the interrupted federate add does not say the upgrade was rolled back:\n%s", p.output())
	}
	after := revisions(t, kc, vizNS)
	if len(after) != len(revs)+2 || !strings.HasSuffix(after[len(after)-1], "=deployed") {
		t.Errorf("release history: %v before, %v after the interrupted upgrade; want a failed revision and its rollback, deployed", revs, after)
	}
	if got := federationSources(t, env); len(got) != 0 {
		t.Errorf("the rolled-back release still has federation sources: %v", got)
	}

	env.MustMeshmon(t, "kubectl", add...)
	if got := federationSources(t, env); !slices.Equal(got, []string{"west"}) {
		t.Errorf("after the rerun: sources %v, want [west]", got)
	}
	again := env.MustMeshmon(t, "kubectl", add...)
	if !strings.Contains(again.Stdout, "already configured") {
		t.Errorf("a third federate add changed the release, so the rerun did not reach an uninterrupted add's state:\n%s", again.Stdout)
	}
	env.MustMeshmon(t, "kubectl", "uninstall")
	sameState(t, "after uninstall", takeState(t, env), before)
}

// vizConfigureRace: `viz configure` reads metrics-api, then another writer updates its args
// (what a kubectl apply of the viz manifest does), then configure's JSON patch arrives. Its
// test operation must refuse it: nothing of the other writer's change is overwritten.
func vizConfigureRace(t *testing.T, env *framework.Env, before, _ clusterState) {
	kc, _ := env.Clients(t)
	const url = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"
	h := holdRequest(t, env, func(r *http.Request) bool {
		return r.Method == http.MethodPatch && r.URL.Path == "/apis/apps/v1/namespaces/"+vizNS+"/deployments/"+viz.MetricsAPIName
	})
	p := startMeshmon(t, env, "viz", "configure", "--prometheus-url", url, "--kubeconfig", h.kubeconfig)
	h.waitHeld(t, p)
	theirs := setMetricsAPIArg(t, kc, "-log-level=info", "-log-level=debug")
	t.Cleanup(func() { setMetricsAPIArg(t, kc, "-log-level=debug", "-log-level=info") })
	h.release()
	p.wait(t, 2*time.Minute)
	t.Logf("viz configure racing an update of metrics-api: exit %d after %s\n%s", p.code, p.took, p.output())
	if p.code != 1 {
		t.Errorf("exit %d, want 1", p.code)
	}
	for _, want := range []string{"Deployment linkerd-viz/metrics-api", "concurrent change", "run the command again"} {
		if !strings.Contains(p.output(), want) {
			t.Errorf("the refused patch does not say %q:\n%s", want, p.output())
		}
	}
	if got := takeState(t, env).MetricsAPIArgs; !slices.Equal(got, theirs) {
		t.Errorf("metrics-api args %q, want the other writer's %q (not overwritten)", got, theirs)
	}
	env.MustMeshmon(t, "kubectl", "viz", "configure", "--prometheus-url", url)
	got := takeState(t, env).MetricsAPIArgs
	if !slices.Contains(got, "-prometheus-url="+url) || !slices.Contains(got, "-log-level=debug") {
		t.Errorf("the rerun did not configure on top of the other writer's args: %q", got)
	}
	env.MustMeshmon(t, "kubectl", "viz", "restore")
	setMetricsAPIArg(t, kc, "-log-level=debug", "-log-level=info")
	sameState(t, "after viz restore", takeState(t, env), before)
}

// setMetricsAPIArg replaces one argument of metrics-api's container with an update, as
// another writer would, and returns the container's args after it. The update is retried on
// a conflict: the deployment controller writes the object's status while a rollout of
// configure or restore is still settling, and that is not the race under test. An argument
// that is no longer there (a cleanup after the test already put it back) writes nothing.
func setMetricsAPIArg(t *testing.T, kc kubernetes.Interface, from, to string) []string {
	t.Helper()
	var args []string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := kc.AppsV1().Deployments(vizNS).Get(ctxT(t), viz.MetricsAPIName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			if c.Name != viz.MetricsAPIName {
				continue
			}
			args = c.Args
			j := slices.Index(c.Args, from)
			if j < 0 {
				return nil
			}
			c.Args[j] = to
			_, err := kc.AppsV1().Deployments(vizNS).Update(ctxT(t), d, metav1.UpdateOptions{})
			return err
		}
		return fmt.Errorf("Deployment %s has no container %s", viz.MetricsAPIName, viz.MetricsAPIName)
	})
	if err != nil {
		t.Fatalf("update metrics-api's %s to %s: %v", from, to, err)
	}
	return args
}

// interrupt sends SIGINT and checks the exit code 130.
func interrupt(t *testing.T, p *proc, what string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 2*time.Minute)
	t.Logf("%s: exit %d after %s\n%s", what, p.code, p.took, p.output())
	if p.code != 130 {
		t.Errorf("exit %d, want 130", p.code)
	}
}

// cleanSlate uninstalls a release left in the viz namespace by an earlier test, so that
// linkerd-viz is as the fixtures installed it.
func cleanSlate(t *testing.T, env *framework.Env) {
	t.Helper()
	kc, _ := env.Clients(t)
	if len(revisions(t, kc, vizNS)) > 0 {
		env.MustMeshmon(t, "kubectl", "uninstall")
	} else {
		env.MustMeshmon(t, "kubectl", "viz", "restore")
	}
}

// clusterState is what install, uninstall and their interruptions leave: the release's last
// revision, linkerd-viz (metrics-api's args, the bundled Prometheus, meshmon's annotations and
// backup copy) and meshmon's policy objects with their specs.
type clusterState struct {
	Release        string
	MetricsAPIArgs []string
	Bundled        string
	Annotations    map[string]string
	Backup         bool
	Policy         map[string]string
}

func takeState(t *testing.T, env *framework.Env) clusterState {
	t.Helper()
	kc, dc := env.Clients(t)
	c := ctxT(t)
	s := clusterState{Release: "none", Bundled: "absent", Annotations: map[string]string{}, Policy: map[string]string{}}
	if revs := revisions(t, kc, vizNS); len(revs) > 0 {
		_, s.Release, _ = strings.Cut(revs[len(revs)-1], "=")
	}
	d, err := kc.AppsV1().Deployments(vizNS).Get(c, viz.MetricsAPIName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range d.Spec.Template.Spec.Containers {
		if ct.Name == viz.MetricsAPIName {
			s.MetricsAPIArgs = ct.Args
		}
	}
	switch b, err := kc.AppsV1().Deployments(vizNS).Get(c, viz.BundledPrometheus, metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.Fatal(err)
	default:
		s.Bundled = fmt.Sprintf("replicas=%d", *b.Spec.Replicas)
	}
	ns, err := kc.CoreV1().Namespaces().Get(c, vizNS, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{viz.AnnotationRecord, viz.AnnotationExternalPrometheus} {
		if v, ok := ns.Annotations[k]; ok {
			s.Annotations[k] = v
		}
	}
	switch _, err := kc.CoreV1().ConfigMaps(vizNS).Get(c, viz.BackupConfigMap, metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.Fatal(err)
	default:
		s.Backup = true
	}
	policyObjects(t, dc, s.Policy)
	return s
}

// policyObjects adds meshmon's policy objects in the viz namespace, "Kind/name" -> spec.
func policyObjects(t *testing.T, dc dynamic.Interface, into map[string]string) {
	t.Helper()
	for _, gvr := range []schema.GroupVersionResource{
		{Group: policy.Group, Version: "v1beta3", Resource: "servers"},
		{Group: policy.Group, Version: "v1alpha1", Resource: "authorizationpolicies"},
		{Group: policy.Group, Version: "v1alpha1", Resource: "meshtlsauthentications"},
		{Group: policy.Group, Version: "v1alpha1", Resource: "networkauthentications"},
		{Group: policy.Group, Version: "v1beta3", Resource: "httproutes"},
	} {
		l, err := dc.Resource(gvr).Namespace(vizNS).List(ctxT(t), metav1.ListOptions{LabelSelector: policy.LabelManagedBy + "=meshmon"})
		if err != nil {
			t.Fatalf("listing %s: %v", gvr.Resource, err)
		}
		for _, o := range l.Items {
			spec, err := json.Marshal(o.Object["spec"])
			if err != nil {
				t.Fatal(err)
			}
			into[o.GetKind()+"/"+o.GetName()] = string(spec)
		}
	}
}

func sameState(t *testing.T, when string, got, want clusterState) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s: the cluster is\n%s\nwant\n%s", when, g, w)
	}
}

// federationSources lists the release's federation sources by name.
func federationSources(t *testing.T, env *framework.Env) []string {
	t.Helper()
	r := env.MustMeshmon(t, "kubectl", "federate", "list", "-o", "json")
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("federate list -o json: %v\n%s", err, r.Stdout)
	}
	var out []string
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out
}

// cordon marks every node unschedulable (or schedulable again).
func cordon(t *testing.T, kc kubernetes.Interface, on bool) {
	t.Helper()
	nodes, err := kc.CoreV1().Nodes().List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	for _, n := range nodes.Items {
		if _, err := kc.CoreV1().Nodes().Patch(ctxT(t), n.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// heldRequest is a proxy in front of the API server that holds the first request match
// accepts until release is called; when the client gives up first (meshmon interrupted),
// the request is never forwarded.
type heldRequest struct {
	kubeconfig string
	arrived    chan struct{}
	let        chan struct{}
	once       sync.Once
}

func holdRequest(t *testing.T, env *framework.Env, match func(*http.Request) bool) *heldRequest {
	t.Helper()
	h := &heldRequest{arrived: make(chan struct{}), let: make(chan struct{})}
	api := env.KubeAPIServer(t)
	px := serveProxy(t, env, api.Addr(), func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caught := false
			if match(r) {
				h.once.Do(func() { caught = true })
			}
			if !caught {
				next.ServeHTTP(w, r)
				return
			}
			close(h.arrived)
			select {
			case <-h.let:
				next.ServeHTTP(w, r)
			case <-r.Context().Done():
			}
		})
	})
	h.kubeconfig = px.kubeconfig(t, env, api.Addr())
	t.Cleanup(h.release)
	return h
}

// waitHeld waits until the request is held; the test fails if meshmon exits first.
func (h *heldRequest) waitHeld(t *testing.T, p *proc) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-p.done:
		t.Fatalf("meshmon ended (exit %d) before sending the request the test holds:\n%s", p.code, p.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("meshmon did not send the request the test holds within 3m:\n%s", p.output())
	}
}

func (h *heldRequest) release() {
	select {
	case <-h.let:
	default:
		close(h.let)
	}
}
