package install

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic/fake"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
)

// testEnv is an Env on fake clients and Helm's memory storage; out and errOut hold the
// report and the progress lines.
type testEnv struct {
	*Env
	kube    *kfake.Clientset
	helm    *action.Configuration
	out     *bytes.Buffer
	errOut  *bytes.Buffer
	targets int
	// denied are the "verb resource" SelfSubjectAccessReviews answer no to; the rest are allowed.
	denied map[string]bool
}

func newTestEnv(t *testing.T, objs ...runtime.Object) *testEnv {
	t.Helper()
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	mem := driver.NewMemory()
	mem.SetNamespace(defaults.VizNamespace)
	cfg.Releases = storage.Init(mem)
	cfg.KubeClient = &kubefake.PrintingKubeClient{Out: io.Discard, LogOutput: io.Discard}
	cfg.Capabilities = common.DefaultCapabilities
	kc := kfake.NewClientset(objs...)
	te := &testEnv{kube: kc, helm: cfg, out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, denied: map[string]bool{}}
	kc.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview).DeepCopy()
		if ra := r.Spec.ResourceAttributes; ra != nil {
			r.Status.Allowed = !te.denied[ra.Verb+" "+ra.Resource]
		}
		return true, r, nil
	})
	clients := &kube.Clients{Kube: kc, Dynamic: fake.NewSimpleDynamicClient(runtime.NewScheme())}
	u := ui.New(te.out, te.errOut, ui.ColorNever, func(string) string { return "" })
	te.Env = &Env{
		Clients:          func() (*kube.Clients, error) { return clients, nil },
		Out:              te.out,
		UI:               u,
		Host:             "kubectl meshmon",
		Namespace:        defaults.VizNamespace,
		LinkerdNamespace: defaults.LinkerdNamespace,
		VizNamespace:     defaults.VizNamespace,
		NewTarget: func(c *kube.Clients, namespace, name string) (*release.Target, error) {
			te.targets++
			return &release.Target{Kube: c.Kube, Helm: cfg, Namespace: namespace, Release: name}, nil
		},
	}
	return te
}

// deployed stores revision 1 of release name as deployed.
func (te *testEnv) deployed(t *testing.T, name string) {
	t.Helper()
	r := &rel.Release{
		Name: name, Namespace: defaults.VizNamespace, Version: 1,
		Info:  &rel.Info{Status: rcommon.StatusDeployed},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "prometheus", Version: defaults.ChartVersion, APIVersion: chart.APIVersionV2}},
	}
	if err := te.helm.Releases.Create(r); err != nil {
		t.Fatal(err)
	}
}

// linkerdObjects are the control plane's ConfigMap with the facts meshmon reads, and the viz
// namespace (viz itself is not installed).
func linkerdObjects() []runtime.Object {
	return []runtime.Object{
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: linkerd.ConfigMapName, Namespace: defaults.LinkerdNamespace},
			Data:       map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nproxyContainerName: linkerd-proxy\n"},
		},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: defaults.VizNamespace, Labels: map[string]string{"linkerd.io/extension": "viz"}}},
	}
}

// serverObjects are the Service and Deployment of release name's Prometheus server; the
// Service's port 9090 targets the container port named by target.
func serverObjects(name string, target intstr.IntOrString, containerPorts ...corev1.ContainerPort) []runtime.Object {
	labels := map[string]string{"app.kubernetes.io/component": "server", "app.kubernetes.io/name": "prometheus", "app.kubernetes.io/instance": name}
	one := int32(1)
	return []runtime.Object{
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-server", Namespace: defaults.VizNamespace, Labels: labels},
			Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 9090, TargetPort: target}}},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-server", Namespace: defaults.VizNamespace, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{ServiceAccountName: name + "-server", Containers: []corev1.Container{
						{Name: "prometheus-server", Ports: containerPorts},
					}},
				},
			},
		},
	}
}
