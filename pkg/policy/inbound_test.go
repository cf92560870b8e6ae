package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/linkerd"
)

func TestNeedsScrapeAuthorization(t *testing.T) {
	tests := []struct {
		annotation     *string
		clusterDefault string
		want           bool
	}{
		{nil, "all-unauthenticated", false},
		{nil, "deny", true},
		{nil, "audit", false},
		{nil, "cluster-authenticated", false},
		{ptr("deny"), "all-unauthenticated", true},
		{ptr("all-unauthenticated"), "deny", false},
		{ptr("all-authenticated"), "deny", false},
		{ptr("cluster-authenticated"), "all-unauthenticated", false},
		{ptr("cluster-unauthenticated"), "deny", false},
		{ptr("audit"), "deny", false},
		{ptr("bogus"), "deny", true}, // ignored like Linkerd does: the cluster default applies
		{ptr("bogus"), "all-unauthenticated", false},
		{ptr("Deny"), "all-unauthenticated", false},
	}
	for _, tt := range tests {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}
		label := "none"
		if tt.annotation != nil {
			ns.Annotations = map[string]string{DefaultInboundPolicyAnnotation: *tt.annotation}
			label = *tt.annotation
		}
		if got := NeedsScrapeAuthorization(ns, tt.clusterDefault); got != tt.want {
			t.Errorf("annotation %s, cluster default %s: %v, want %v", label, tt.clusterDefault, got, tt.want)
		}
	}
}

func ptr(s string) *string { return &s }

func TestClusterDefaultInboundPolicy(t *testing.T) {
	var cm corev1.ConfigMap
	fixtures.Object(t, &cm, "ConfigMap", linkerd.ConfigMapName, "linkerd/control-plane.yaml")
	const required = "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nproxyContainerName: linkerd-proxy\n"
	tests := []struct {
		name, values string
		want         string
	}{
		{name: "fixture"},
		{name: "deny", values: required + "proxy:\n  defaultInboundPolicy: deny\n", want: "deny"},
		{name: "unset", values: required + "proxy: {}\n", want: "all-unauthenticated"},
		{name: "not a Linkerd policy", values: required + "proxy:\n  defaultInboundPolicy: open\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cm.DeepCopy()
			want := tt.want
			if tt.values != "" {
				c.Data["values"] = tt.values
			} else {
				want = "all-unauthenticated"
			}
			f, err := linkerd.ParseConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ClusterDefaultInboundPolicy(f)
			switch {
			case tt.name == "not a Linkerd policy":
				if err == nil || !strings.Contains(err.Error(), `proxy.defaultInboundPolicy "open" is not a Linkerd policy`) {
					t.Errorf("invalid policy: %q, %v", got, err)
				}
			case err != nil || got != want:
				t.Errorf("ClusterDefaultInboundPolicy = %q, %v; want %q", got, err, want)
			}
		})
	}
}

func meshedPod(ns, name string, proxy, native bool, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"linkerd.io/control-plane-ns": "linkerd"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status:     corev1.PodStatus{Phase: phase},
	}
	switch {
	case proxy && native:
		p.Spec.InitContainers = []corev1.Container{{Name: defaults.ProxyContainerName}}
	case proxy:
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: defaults.ProxyContainerName})
	}
	return p
}

func TestMeshedNamespacesOneLogicalListPaginated(t *testing.T) {
	var pods []corev1.Pod
	for i := range 1234 {
		pods = append(pods, meshedPod(fmt.Sprintf("ns-%02d", i%40), fmt.Sprintf("p-%d", i), true, false, corev1.PodRunning))
	}
	pods = append(pods,
		meshedPod("native", "n", true, true, corev1.PodRunning),
		meshedPod("pending", "p", true, false, corev1.PodPending),
		meshedPod("done", "d", true, false, corev1.PodSucceeded),
		meshedPod("labelled-but-no-proxy", "x", false, false, corev1.PodRunning),
	)
	kube := kubefake.NewClientset()
	var calls []metav1.ListOptions
	kube.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		la, ok := a.(k8stesting.ListActionImpl)
		if !ok || a.GetResource() != (schema.GroupVersionResource{Version: "v1", Resource: "pods"}) || la.GetNamespace() != "" {
			t.Errorf("unexpected call %s %s in %q", a.GetVerb(), a.GetResource(), a.GetNamespace())
			return true, nil, errors.New("unexpected")
		}
		opts := la.ListOptions
		calls = append(calls, opts)
		start := 0
		if opts.Continue != "" {
			start, _ = strconv.Atoi(opts.Continue)
		}
		end := min(len(pods), start+int(opts.Limit))
		list := &corev1.PodList{Items: pods[start:end]}
		if end < len(pods) {
			list.Continue = strconv.Itoa(end)
		}
		return true, list, nil
	})

	got, err := MeshedNamespaces(context.Background(), kube, defaults.ProxyContainerName)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 42 || !slices.Contains(got, "native") || !slices.Contains(got, "pending") ||
		slices.Contains(got, "done") || slices.Contains(got, "labelled-but-no-proxy") || !slices.IsSorted(got) {
		t.Errorf("MeshedNamespaces = %v", got)
	}
	wantPages := (len(pods) + meshedPodsPageSize - 1) / meshedPodsPageSize
	if len(calls) != wantPages {
		t.Errorf("%d list calls for %d pods, want %d pages", len(calls), len(pods), wantPages)
	}
	for i, c := range calls {
		if c.LabelSelector != "linkerd.io/control-plane-ns" || c.Limit != meshedPodsPageSize {
			t.Errorf("call %d options %+v", i, c)
		}
		if (i == 0) != (c.Continue == "") {
			t.Errorf("call %d continue token %q", i, c.Continue)
		}
	}
}

func TestMeshedNamespacesSinglePage(t *testing.T) {
	p1 := meshedPod("a", "1", true, false, corev1.PodRunning)
	p2 := meshedPod("b", "2", true, false, corev1.PodRunning)
	kube := kubefake.NewClientset(&p1, &p2)
	got, err := MeshedNamespaces(context.Background(), kube, defaults.ProxyContainerName)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %v", got)
	}
	if n := len(kube.Actions()); n != 1 {
		t.Errorf("%d API calls, want exactly 1", n)
	}
	// An install with another proxy container name: the pods above run none of that name.
	if got, err := MeshedNamespaces(context.Background(), kube, "mesh-sidecar"); err != nil || len(got) != 0 {
		t.Errorf("MeshedNamespaces(mesh-sidecar) = %v, %v; want none", got, err)
	}
}
