//go:build e2e

package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/change"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/policy"
)

const vizNS = "linkerd-viz"

var gvrs = map[string]schema.GroupVersionResource{
	policy.KindServer:                {Group: policy.Group, Version: "v1beta3", Resource: "servers"},
	policy.KindHTTPRoute:             {Group: policy.Group, Version: "v1beta3", Resource: "httproutes"},
	policy.KindAuthorizationPolicy:   {Group: policy.Group, Version: "v1alpha1", Resource: "authorizationpolicies"},
	policy.KindMeshTLSAuthentication: {Group: policy.Group, Version: "v1alpha1", Resource: "meshtlsauthentications"},
	policy.KindNetworkAuthentication: {Group: policy.Group, Version: "v1alpha1", Resource: "networkauthentications"},
}

// Identities of the fixture cluster (trust domain cluster.local, control plane in linkerd).
const (
	meshmonPromID = "prometheus-server.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	vizPromID     = "prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	tapID         = "tap.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
)

func get(t *testing.T, dc dynamic.Interface, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := dc.Resource(gvrs[kind]).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// managed lists every object labelled as meshmon's, by kind/namespace/name → resourceVersion.
func managed(t *testing.T, dc dynamic.Interface) map[string]string {
	t.Helper()
	out := map[string]string{}
	for kind, gvr := range gvrs {
		l, err := dc.Resource(gvr).List(context.Background(), metav1.ListOptions{LabelSelector: policy.LabelManagedBy + "=meshmon"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			out[kind+"/"+o.GetNamespace()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

type changesDoc struct {
	Changes change.Changes `json:"changes"`
}

func applyJSON(t *testing.T, env *framework.Env, args ...string) change.Changes {
	t.Helper()
	r := env.MustMeshmon(t, "kubectl", append(append([]string{"policy", "apply"}, args...), "-o", "json")...)
	var doc changesDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("policy apply -o json: %v\n%s", err, r.Stdout)
	}
	return doc.Changes
}

func actions(cs change.Changes) map[string]change.Action {
	out := map[string]change.Action{}
	for _, c := range cs {
		out[c.Kind+"/"+c.Namespace+"/"+c.Name] = c.Action
	}
	return out
}

func spec(o *unstructured.Unstructured) map[string]any {
	s, _ := o.Object["spec"].(map[string]any)
	return s
}

func createNamespace(t *testing.T, kc kubernetes.Interface, name string, annotations map[string]string) {
	t.Helper()
	_, err := kc.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, dc := env.Clients(t)

	t.Run("dry run prints valid objects and stores nothing", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "policy", "apply", "--dry-run")
		var kinds []string
		for _, doc := range strings.Split(r.Stdout, "---\n") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var o map[string]any
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("dry run output is not YAML: %v\n%s", err, doc)
			}
			kinds = append(kinds, fmt.Sprint(o["kind"]))
		}
		if want := []string{"MeshTLSAuthentication", "AuthorizationPolicy", "Server"}; !slices.Equal(kinds, want) {
			t.Errorf("dry run printed kinds %v, want %v", kinds, want)
		}
		if !strings.Contains(r.Stderr, "created (server dry run)") {
			t.Errorf("dry run did not report the server's verdict on stderr:\n%s", r.Stderr)
		}
		if m := managed(t, dc); len(m) != 0 {
			t.Errorf("dry run stored objects: %v", m)
		}
	})

	t.Run("apply creates valid objects", func(t *testing.T) {
		got := actions(applyJSON(t, env))
		want := map[string]change.Action{
			"MeshTLSAuthentication/linkerd-viz/meshmon-prometheus":    change.Created,
			"AuthorizationPolicy/linkerd-viz/prometheus-server-admin": change.Created,
			"Server/linkerd-viz/prometheus-server-admin":              change.Created,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("apply: %v, want %v", got, want)
		}
		srv := get(t, dc, policy.KindServer, vizNS, policy.ServerName)
		s := spec(srv)
		sel, _ := s["podSelector"].(map[string]any)
		wantSel := map[string]any{"app.kubernetes.io/component": "server", "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": "prometheus"}
		if fmt.Sprint(sel["matchLabels"]) != fmt.Sprint(wantSel) || s["port"] != int64(9090) || s["accessPolicy"] != "deny" || s["proxyProtocol"] != "HTTP/1" {
			t.Errorf("Server spec = %v", s)
		}
		pods, err := kc.CoreV1().Pods(vizNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=prometheus,app.kubernetes.io/component=server,app.kubernetes.io/name=prometheus"})
		if err != nil || len(pods.Items) == 0 {
			t.Errorf("the Server's selector matches no running Prometheus pod (err %v)", err)
		}
		ap := spec(get(t, dc, policy.KindAuthorizationPolicy, vizNS, policy.AdminAuthorizationName))
		refs, _ := ap["requiredAuthenticationRefs"].([]any)
		if len(refs) != 1 || fmt.Sprint(refs[0]) != fmt.Sprint(map[string]any{"kind": "ServiceAccount", "name": "metrics-api", "namespace": vizNS}) {
			t.Errorf("admin AuthorizationPolicy authenticates %v, want only ServiceAccount linkerd-viz/metrics-api", refs)
		}
		ids, _, _ := unstructured.NestedStringSlice(get(t, dc, policy.KindMeshTLSAuthentication, vizNS, "meshmon-prometheus").Object, "spec", "identities")
		if !slices.Equal(ids, []string{meshmonPromID, vizPromID, tapID}) {
			t.Errorf("MeshTLSAuthentication identities = %v", ids)
		}
		if get(t, dc, policy.KindServer, vizNS, "prometheus-admin") == nil || get(t, dc, policy.KindMeshTLSAuthentication, vizNS, "metrics-api-web") == nil {
			t.Error("viz's own policy objects are gone")
		}
	})

	t.Run("apply twice changes nothing", func(t *testing.T) {
		before := managed(t, dc)
		for key, a := range actions(applyJSON(t, env)) {
			if a != change.Unchanged {
				t.Errorf("%s: %s, want unchanged", key, a)
			}
		}
		if after := managed(t, dc); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("resourceVersions changed: %v -> %v", before, after)
		}
		r := env.MustMeshmon(t, "kubectl", "policy", "apply")
		if !strings.Contains(r.Stdout, "unchanged") || !strings.Contains(r.Stderr, "authorization policy unchanged") {
			t.Errorf("text output:\n%s\n%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("extra clients and federation", func(t *testing.T) {
		createNamespace(t, kc, "grafana", nil)
		if _, err := kc.CoreV1().ServiceAccounts("grafana").Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "grafana"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		got := actions(applyJSON(t, env, "--allow-client", "grafana/grafana", "--allow-federate-from", "10.20.0.0/16"))
		for _, key := range []string{
			"AuthorizationPolicy/linkerd-viz/prometheus-server-client-grafana-grafana",
			"NetworkAuthentication/linkerd-viz/prometheus-server-federate",
			"AuthorizationPolicy/linkerd-viz/prometheus-server-federate",
		} {
			if got[key] != change.Created {
				t.Errorf("%s: %q, want created", key, got[key])
			}
		}
		na := spec(get(t, dc, policy.KindNetworkAuthentication, vizNS, policy.FederateName))
		if fmt.Sprint(na["networks"]) != "[map[cidr:10.20.0.0/16]]" {
			t.Errorf("federation networks = %v", na["networks"])
		}

		r := env.MustMeshmon(t, "linkerd", "policy", "show", "--allow-client", "grafana/grafana", "--allow-federate-from", "10.20.0.0/16", "-o", "json")
		var st policy.Status
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
			t.Fatal(err)
		}
		if !st.InSync {
			t.Errorf("show with the same flags is not in sync: %+v", st.Objects)
		}
		// Without the flags, those objects are no longer wanted: show says so.
		table := env.MustMeshmon(t, "kubectl", "policy", "show").Stdout
		if !strings.Contains(table, "prometheus-server-client-grafana-grafana  stale") || !strings.Contains(table, "not in place") {
			t.Errorf("show without the flags should list the client policy as stale:\n%s", table)
		}
	})
}

// An existing MeshTLSAuthentication is merged into while another writer keeps adding to it:
// every identity of both survives, and delete takes back only meshmon's.
func TestMergeWithConcurrentWriter(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	_, dc := env.Clients(t)
	ctx := context.Background()
	const preexisting = "vmagent.monitoring.serviceaccount.identity.linkerd.cluster.local"
	res := dc.Resource(gvrs[policy.KindMeshTLSAuthentication]).Namespace(vizNS)
	foreign := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
		"metadata": map[string]any{"name": "scrapers", "namespace": vizNS},
		"spec":     map[string]any{"identities": []any{preexisting}},
	}}
	if _, err := res.Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// writer adds one identity at a time with optimistic concurrency until stopped.
	writer := func(prefix string, stop <-chan struct{}) func() []string {
		var mu sync.Mutex
		var written []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d.other.serviceaccount.identity.linkerd.cluster.local", prefix, i)
				err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					cur, err := res.Get(ctx, "scrapers", metav1.GetOptions{})
					if err != nil {
						return err
					}
					ids, _, _ := unstructured.NestedStringSlice(cur.Object, "spec", "identities")
					if err := unstructured.SetNestedStringSlice(cur.Object, append(ids, id), "spec", "identities"); err != nil {
						return err
					}
					_, err = res.Update(ctx, cur, metav1.UpdateOptions{})
					return err
				})
				if err != nil {
					t.Errorf("concurrent writer: %v", err)
					return
				}
				mu.Lock()
				written = append(written, id)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
		return func() []string {
			<-done
			mu.Lock()
			defer mu.Unlock()
			return written
		}
	}

	stop := make(chan struct{})
	wait := writer("apply", stop)
	for range 3 {
		env.MustMeshmon(t, "kubectl", "policy", "apply", "--mtls-authentication", "scrapers")
	}
	close(stop)
	written := wait()
	if len(written) < 3 {
		t.Fatalf("the concurrent writer managed only %d writes; the test proves nothing", len(written))
	}
	ids, _, _ := unstructured.NestedStringSlice(get(t, dc, policy.KindMeshTLSAuthentication, vizNS, "scrapers").Object, "spec", "identities")
	for _, id := range append([]string{preexisting, meshmonPromID, vizPromID, tapID}, written...) {
		if !slices.Contains(ids, id) {
			t.Errorf("identity %s was lost in the merge (have %d identities)", id, len(ids))
		}
	}
	if get(t, dc, policy.KindMeshTLSAuthentication, vizNS, "scrapers").GetLabels()[policy.LabelManagedBy] == "meshmon" {
		t.Error("meshmon took over a MeshTLSAuthentication it did not create")
	}

	stop = make(chan struct{})
	wait = writer("delete", stop)
	r := env.MustMeshmon(t, "kubectl", "policy", "delete", "--mtls-authentication", "scrapers")
	close(stop)
	written = append(written, wait()...)
	if !strings.Contains(r.Stdout, "unmerged") {
		t.Errorf("delete output does not report the un-merge:\n%s", r.Stdout)
	}
	obj := get(t, dc, policy.KindMeshTLSAuthentication, vizNS, "scrapers")
	if obj == nil {
		t.Fatal("delete removed a MeshTLSAuthentication meshmon did not create")
	}
	ids, _, _ = unstructured.NestedStringSlice(obj.Object, "spec", "identities")
	want := append([]string{preexisting}, written...)
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("after delete: identities\n  %v\nwant the pre-existing and the writer's only\n  %v", ids, want)
	}
	if _, ok := obj.GetAnnotations()[policy.AnnotationAddedIdentities]; ok {
		t.Error("meshmon's record of added identities is left behind")
	}
	if err := res.Delete(ctx, "scrapers", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteLeavesForeignObjects(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	_, dc := env.Clients(t)
	ctx := context.Background()
	env.MustMeshmon(t, "kubectl", "policy", "apply")
	foreignServer := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server",
		"metadata": map[string]any{"name": "someone-elses", "namespace": vizNS},
		"spec": map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": "grafana"}},
			"port":        "http", "proxyProtocol": "HTTP/1",
		},
	}}
	if _, err := dc.Resource(gvrs[policy.KindServer]).Namespace(vizNS).Create(ctx, foreignServer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keep := map[string]string{}
	for _, k := range [][3]string{
		{policy.KindServer, vizNS, "someone-elses"},
		{policy.KindServer, vizNS, "prometheus-admin"},
		{policy.KindAuthorizationPolicy, vizNS, "prometheus-admin"},
		{policy.KindMeshTLSAuthentication, vizNS, "metrics-api-web"},
	} {
		keep[strings.Join(k[:], "/")] = get(t, dc, k[0], k[1], k[2]).GetResourceVersion()
	}

	env.MustMeshmon(t, "kubectl", "policy", "delete")
	if m := managed(t, dc); len(m) != 0 {
		t.Errorf("meshmon objects left after delete: %v", m)
	}
	for key, rv := range keep {
		k := strings.SplitN(key, "/", 3)
		o := get(t, dc, k[0], k[1], k[2])
		if o == nil || o.GetResourceVersion() != rv {
			t.Errorf("%s was deleted or changed by policy delete", key)
		}
	}
	r := env.MustMeshmon(t, "kubectl", "policy", "delete")
	if strings.Contains(r.Stdout, "deleted") {
		t.Errorf("a second delete deleted something:\n%s", r.Stdout)
	}
}

func TestAllowScrapes(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, dc := env.Clients(t)
	ctx := context.Background()
	createNamespace(t, kc, "deny-ns", map[string]string{policy.DefaultInboundPolicyAnnotation: "deny"})
	createNamespace(t, kc, "open-ns", nil)
	createNamespace(t, kc, "deny-meshed", map[string]string{policy.DefaultInboundPolicyAnnotation: "deny"})
	// A meshed pod, as the proxy injector leaves it.
	_, err := kc.CoreV1().Pods("deny-meshed").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"linkerd.io/control-plane-ns": "linkerd"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "app"},
			{Name: "linkerd-proxy", Image: "cr.l5d.io/linkerd/proxy:edge-26.8.3", Ports: []corev1.ContainerPort{{Name: "linkerd-admin", ContainerPort: 4191}}},
		}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	scrapeObjects := func(ns string) []string {
		var out []string
		for kind := range gvrs {
			l, err := dc.Resource(gvrs[kind]).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: policy.LabelManagedBy + "=meshmon"})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range l.Items {
				out = append(out, kind+"/"+o.GetName())
			}
		}
		slices.Sort(out)
		return out
	}

	r := env.MustMeshmon(t, "kubectl", "policy", "allow-scrapes", "-n", "deny-ns")
	if !strings.Contains(r.Stdout, "namespace deny-ns: authorizing (default inbound policy deny, from namespace annotation") {
		t.Errorf("allow-scrapes output:\n%s", r.Stdout)
	}
	want := []string{
		"AuthorizationPolicy/meshmon-proxy-metrics", "AuthorizationPolicy/meshmon-proxy-probes",
		"HTTPRoute/meshmon-proxy-metrics", "HTTPRoute/meshmon-proxy-probes", "Server/meshmon-proxy-admin",
	}
	if got := scrapeObjects("deny-ns"); !slices.Equal(got, want) {
		t.Errorf("objects in deny-ns = %v, want %v", got, want)
	}
	ap := spec(get(t, dc, policy.KindAuthorizationPolicy, "deny-ns", policy.ProxyMetricsRouteName))
	if fmt.Sprint(ap["requiredAuthenticationRefs"]) != fmt.Sprint([]any{map[string]any{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": "meshmon-prometheus", "namespace": vizNS}}) {
		t.Errorf("scrape authorization refs = %v", ap["requiredAuthenticationRefs"])
	}
	if get(t, dc, policy.KindMeshTLSAuthentication, vizNS, "meshmon-prometheus") == nil || get(t, dc, policy.KindNetworkAuthentication, vizNS, policy.KubeletNetworkName) == nil {
		t.Error("the authentications the scrape policies name were not created")
	}

	r = env.MustMeshmon(t, "kubectl", "policy", "allow-scrapes", "-n", "open-ns")
	if !strings.Contains(r.Stdout, "namespace open-ns: skipped (default inbound policy all-unauthenticated, from the cluster default") || !strings.Contains(r.Stdout, "No namespace needs scrape authorization.") {
		t.Errorf("open-ns should be skipped with the reason:\n%s", r.Stdout)
	}
	if got := scrapeObjects("open-ns"); len(got) != 0 {
		t.Errorf("objects created in open-ns: %v", got)
	}

	r = env.MustMeshmon(t, "kubectl", "policy", "allow-scrapes", "--all-meshed-namespaces")
	for _, want := range []string{"namespace deny-meshed: authorizing", "namespace linkerd-viz: skipped"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("--all-meshed-namespaces output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if got := scrapeObjects("deny-meshed"); !slices.Equal(got, want) {
		t.Errorf("objects in deny-meshed = %v, want %v", got, want)
	}

	// The authorized namespaces belong to the policy from now on: apply keeps them, and show
	// reports them present, not stale.
	applied := actions(applyJSON(t, env))
	if applied["Server/deny-ns/meshmon-proxy-admin"] != change.Unchanged || applied["Server/linkerd-viz/prometheus-server-admin"] != change.Created {
		t.Errorf("apply after allow-scrapes: %v", applied)
	}
	show := env.MustMeshmon(t, "kubectl", "policy", "show")
	if !strings.Contains(show.Stdout, "The policy is in place.") || strings.Contains(show.Stdout, "stale") {
		t.Errorf("show after allow-scrapes:\n%s", show.Stdout)
	}
	env.MustMeshmon(t, "kubectl", "policy", "delete")
	for _, ns := range []string{"deny-ns", "deny-meshed"} {
		if got := scrapeObjects(ns); len(got) != 0 {
			t.Errorf("delete left %v in %s", got, ns)
		}
	}
}

func TestBadInput(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, dc := env.Clients(t)
	ctx := context.Background()
	env.MustMeshmon(t, "kubectl", "policy", "delete")

	t.Run("unknown client ServiceAccount", func(t *testing.T) {
		r := env.Meshmon(t, "kubectl", "policy", "apply", "--allow-client", "nosuch/reader")
		if r.Code != 1 || !strings.Contains(r.Stderr, `--allow-client nosuch/reader: ServiceAccount "reader" does not exist in namespace "nosuch"`) {
			t.Errorf("exit %d, stderr:\n%s", r.Code, r.Stderr)
		}
		if m := managed(t, dc); len(m) != 0 {
			t.Errorf("objects written despite the error: %v", m)
		}
	})

	t.Run("malformed flags are usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"--allow-client", "grafana"},
			{"--allow-federate-from", "10.0.0.1"},
			{"--mtls-authentication", "metrics-api-web"},
		} {
			r := env.Meshmon(t, "kubectl", append([]string{"policy", "apply"}, args...)...)
			if r.Code != 2 {
				t.Errorf("%v: exit %d, want 2\n%s", args, r.Code, r.Stderr)
			}
		}
	})

	t.Run("forbidden user", func(t *testing.T) {
		limited := []string{"--kubeconfig", env.LimitedKubeconfig()}
		r := env.Meshmon(t, "kubectl", append([]string{"policy", "apply"}, limited...)...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "permission denied: cannot get configmaps") {
			t.Errorf("with no permissions: exit %d\n%s", r.Code, r.Stderr)
		}
		// Read-only: meshmon gets far enough to ask the API server what it may write.
		env.KubectlApply(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-read-everything}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-limited-read}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-read-everything}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "meshmon:limited"}
`)
		framework.Eventually(t, 10*time.Second, func() error {
			r = env.Meshmon(t, "kubectl", append([]string{"policy", "apply"}, limited...)...)
			if !strings.Contains(r.Stderr, "permission denied, nothing was applied") {
				return fmt.Errorf("exit %d:\n%s", r.Code, r.Stderr)
			}
			return nil
		})
		if r.Code != 1 || !strings.Contains(r.Stderr, `create meshtlsauthentications.policy.linkerd.io in namespace "linkerd-viz"`) {
			t.Errorf("the denial should name what to allow: exit %d\n%s", r.Code, r.Stderr)
		}
		if m := managed(t, dc); len(m) != 0 {
			t.Errorf("objects written for a forbidden user: %v", m)
		}
		if err := kc.RbacV1().ClusterRoleBindings().Delete(ctx, "e2e-limited-read", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
