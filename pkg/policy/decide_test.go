package policy

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/linkerd"
)

func TestDecideScrapes(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: linkerd.ConfigMapName, Namespace: "linkerd"},
		Data: map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nproxyContainerName: linkerd-proxy\nproxy:\n  defaultInboundPolicy: all-unauthenticated\n"}}
	ns := func(name string, annotations map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	}
	kc := kubefake.NewClientset(cm,
		ns("locked", map[string]string{DefaultInboundPolicyAnnotation: "deny"}),
		ns("open", nil),
		ns("typo", map[string]string{DefaultInboundPolicyAnnotation: "Deny"}),
	)
	got, err := DecideScrapes(context.Background(), kc, "linkerd", []string{"locked", "open", "typo"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		allowed bool
		from    string
		reason  string
	}{
		{true, "namespace annotation " + DefaultInboundPolicyAnnotation, "proxies deny unauthorized traffic"},
		{false, "the cluster default in linkerd-config", "already let in"},
		{false, "the cluster default in linkerd-config", `the namespace annotation "Deny" is not a Linkerd policy`},
	}
	for i, d := range got {
		if d.Allowed != want[i].allowed || d.From != want[i].from || !strings.Contains(d.Reason, want[i].reason) {
			t.Errorf("%s: %+v, want allowed=%v from %q reason ~%q", d.Namespace, d, want[i].allowed, want[i].from, want[i].reason)
		}
	}
	if _, err := DecideScrapes(context.Background(), kc, "linkerd", []string{"gone"}, false); err == nil || !strings.Contains(err.Error(), `namespace "gone" does not exist`) {
		t.Errorf("missing namespace: %v", err)
	}
	if _, err := DecideScrapes(context.Background(), kc, "elsewhere", []string{"open"}, false); err == nil || !strings.Contains(err.Error(), `Linkerd is not installed in namespace "elsewhere"`) {
		t.Errorf("missing linkerd-config: %v", err)
	}
}
