package install

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/policy"
)

// The policy Server matches pod ports, so the spec carries the container port behind the
// Service's targetPort, not the Service port.
func TestReadPolicyUsesTheContainerPortBehindTheService(t *testing.T) {
	for _, tc := range []struct {
		name    string
		target  intstr.IntOrString
		ports   []corev1.ContainerPort
		want    int
		wantErr string
	}{
		{"numeric targetPort", intstr.FromInt32(9091), []corev1.ContainerPort{{ContainerPort: 9091}}, 9091, ""},
		{"no targetPort", intstr.IntOrString{}, []corev1.ContainerPort{{ContainerPort: 9090}}, 9090, ""},
		{"named targetPort", intstr.FromString("web"), []corev1.ContainerPort{{Name: "web", ContainerPort: 9092}}, 9092, ""},
		{"named targetPort nobody declares", intstr.FromString("web"), nil, 0, `targets the port named "web"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t, append(linkerdObjects(), serverObjects(defaults.ReleaseName, tc.target, tc.ports...)...)...)
			pol, err := te.ReadPolicy(context.Background(), PolicyInput{ReleaseName: defaults.ReleaseName}, false)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pol.Spec.Port != tc.want {
				t.Errorf("port %d, want %d", pol.Spec.Port, tc.want)
			}
			if pol.Spec.PrometheusServiceAccount != "prometheus-server" || pol.Spec.PrometheusNamespace != defaults.VizNamespace {
				t.Errorf("service account %s/%s", pol.Spec.PrometheusNamespace, pol.Spec.PrometheusServiceAccount)
			}
			if _, err := policy.Build(pol.Spec); err != nil {
				t.Errorf("the spec does not build: %v", err)
			}
		})
	}
}

// Delete may run after the release is gone; apply may not.
func TestReadPolicyWithoutServer(t *testing.T) {
	te := newTestEnv(t, linkerdObjects()...)
	_, err := te.ReadPolicy(context.Background(), PolicyInput{ReleaseName: defaults.ReleaseName}, false)
	if err == nil || !strings.Contains(err.Error(), "install it first with `kubectl meshmon install`") {
		t.Fatalf("error %v, want the fix named", err)
	}
	pol, err := te.ReadPolicy(context.Background(), PolicyInput{ReleaseName: "old"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if pol.Server != nil || pol.Spec.ServerPodLabels["app.kubernetes.io/instance"] != "old" {
		t.Errorf("server %v, labels %v; want none and the release's instance label", pol.Server, pol.Spec.ServerPodLabels)
	}
}
