package kube

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSharedReadsAnswerRepeatedReadsWithOneList(t *testing.T) {
	dep := func(name string, lbl map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "viz", Labels: lbl}}
	}
	kc := fake.NewClientset(dep("web", map[string]string{"app": "web"}), dep("metrics-api", nil),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "viz"}})
	s := SharedReads(kc, time.Hour)
	ctx := context.Background()
	for range 3 {
		if d, err := s.AppsV1().Deployments("viz").Get(ctx, "web", metav1.GetOptions{}); err != nil || d.Name != "web" {
			t.Fatalf("Get web = %v, %v", d, err)
		}
		if _, err := s.AppsV1().Deployments("viz").Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("Get absent: %v; want NotFound", err)
		}
		l, err := s.AppsV1().Deployments("viz").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(l.Items) != 1 || l.Items[0].Name != "web" {
			t.Fatalf("List app=web = %v, %v", l, err)
		}
		if _, err := s.CoreV1().Namespaces().Get(ctx, "viz", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(kc.Actions()); n != 2 {
		t.Errorf("%d requests for 3 rounds of the same reads; want 2 (one Deployment list, one Namespace get): %v", n, kc.Actions())
	}
	// A copy each time: a caller changing its answer does not change another's.
	d, _ := s.AppsV1().Deployments("viz").Get(ctx, "web", metav1.GetOptions{})
	d.Labels["app"] = "changed"
	if d2, _ := s.AppsV1().Deployments("viz").Get(ctx, "web", metav1.GetOptions{}); d2.Labels["app"] != "web" {
		t.Error("a shared answer was changed by a caller")
	}
}

// After ttl the cluster is read anew: a check retried under --wait sees a
// Deployment created meanwhile.
func TestSharedReadsExpire(t *testing.T) {
	kc := fake.NewClientset()
	s := SharedReads(kc, 20*time.Millisecond)
	ctx := context.Background()
	if _, err := s.AppsV1().Deployments("viz").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Get: %v; want NotFound", err)
	}
	if _, err := kc.AppsV1().Deployments("viz").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "viz"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	if _, err := s.AppsV1().Deployments("viz").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Fatalf("Get after ttl: %v; want the new Deployment", err)
	}
}

func TestSharedDynamicReads(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "policy.linkerd.io", Version: "v1beta3", Resource: "servers"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server",
		"metadata": map[string]any{"name": "prometheus-admin", "namespace": "viz"},
	}}
	dc := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "ServerList"}, obj)
	s := SharedDynamicReads(dc, time.Hour)
	ctx := context.Background()
	if o, err := s.Resource(gvr).Namespace("viz").Get(ctx, "prometheus-admin", metav1.GetOptions{}); err != nil || o.GetName() != "prometheus-admin" {
		t.Fatalf("Get = %v, %v", o, err)
	}
	if _, err := s.Resource(gvr).Namespace("viz").Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Get absent: %v; want NotFound", err)
	}
	if l, err := s.Resource(gvr).Namespace("viz").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Fatalf("List = %v, %v", l, err)
	}
	if n := len(dc.Actions()); n != 1 {
		t.Errorf("%d requests; want 1 list: %v", n, dc.Actions())
	}
}
