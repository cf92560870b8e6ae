package release

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/defaults"
)

func serverObjects(release, ns string, port int32) (*corev1.Service, *appsv1.Deployment) {
	l := map[string]string{
		"app.kubernetes.io/component": "server",
		"app.kubernetes.io/name":      "prometheus",
		"app.kubernetes.io/instance":  release,
	}
	name := ServerFullname(release)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}},
	}
	pod := map[string]string{"extra": "label"}
	for k, v := range l {
		pod[k] = v
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: pod},
				Spec:       corev1.PodSpec{ServiceAccountName: "custom-sa"},
			},
		},
	}
	return svc, dep
}

func TestFindServer(t *testing.T) {
	svc, dep := serverObjects("mon", "observability", 9091)
	kc := fake.NewClientset(svc, dep)
	s, err := FindServer(context.Background(), kc, "observability", "mon", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://mon-prometheus-server.observability.svc.example.org:9091"; s.URL != want {
		t.Errorf("URL = %q, want %q (built from the real Service and cluster domain)", s.URL, want)
	}
	if s.WorkloadKind != "Deployment" || s.ServiceAccount != "custom-sa" || s.PodLabels["extra"] != "label" {
		t.Errorf("workload read wrong: %+v", s)
	}
	if _, ok := s.SelectorLabels["extra"]; ok {
		t.Errorf("selector labels must be the selector's, not all pod labels: %v", s.SelectorLabels)
	}
}

func TestFindServerMissing(t *testing.T) {
	svc, _ := serverObjects("prometheus", "linkerd-viz", 9090)
	for name, kc := range map[string]*fake.Clientset{
		"no service":  fake.NewClientset(),
		"no workload": fake.NewClientset(svc),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FindServer(context.Background(), kc, "linkerd-viz", "prometheus", "cluster.local")
			if !errors.Is(err, ErrServerNotFound) {
				t.Fatalf("err = %v, want ErrServerNotFound", err)
			}
		})
	}
}

// A dry run shows viz and the policy the server the chart would create:
// it must be exactly what FindServer later reads from the cluster.
func TestPlannedServer(t *testing.T) {
	for _, sts := range []bool{false, true} {
		p := testPlan(t, func(o *ValuesOptions) { o.StatefulSet = sts })
		s, err := PlannedServer(p.Manifest, "linkerd-viz", defaults.ReleaseName, "example.org")
		if err != nil {
			t.Fatal(err)
		}
		if want := "http://prometheus-server.linkerd-viz.svc.example.org:9090"; s.URL != want {
			t.Errorf("statefulset=%v: URL = %q, want %q", sts, s.URL, want)
		}
		wantKind := map[bool]string{false: "Deployment", true: "StatefulSet"}[sts]
		if s.WorkloadKind != wantKind || s.ServiceAccount != "prometheus-server" || len(s.SelectorLabels) != 3 {
			t.Errorf("statefulset=%v: got kind %s, SA %s, selector %v", sts, s.WorkloadKind, s.ServiceAccount, s.SelectorLabels)
		}
	}
	if _, err := PlannedServer("", "linkerd-viz", "prometheus", "cluster.local"); !errors.Is(err, ErrServerNotFound) {
		t.Errorf("empty manifest: err = %v, want ErrServerNotFound", err)
	}
}
