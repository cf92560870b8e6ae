package linkerd

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

func fixtureConfigMap(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	fixtures.Object(t, &cm, "ConfigMap", ConfigMapName, "linkerd/control-plane.yaml")
	return &cm
}

func fixtureVizNamespace(t *testing.T) *corev1.Namespace {
	t.Helper()
	var ns corev1.Namespace
	fixtures.Object(t, &ns, "Namespace", "linkerd-viz", "linkerd/viz.yaml")
	return &ns
}

func TestParseConfigFixture(t *testing.T) {
	got, err := ParseConfig(fixtureConfigMap(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Facts{
		LinkerdNamespace:   "linkerd",
		ClusterDomain:      "cluster.local",
		TrustDomain:        "cluster.local",
		ProxyContainerName: "linkerd-proxy",
		InboundPolicy:      "all-unauthenticated",
	}
	if got != want {
		t.Errorf("ParseConfig(fixture) = %+v, want %+v", got, want)
	}
}

// TestParseConfigFollowsTheConfigMap edits the fixture's values and namespace and checks
// every edit comes through, so no field is read from a default.
func TestParseConfigFollowsTheConfigMap(t *testing.T) {
	cm := fixtureConfigMap(t).DeepCopy()
	cm.Namespace = "mesh-system"
	v := cm.Data["values"]
	for old, repl := range map[string]string{
		"\nclusterDomain: cluster.local\n":              "\nclusterDomain: corp.example\n",
		"\nidentityTrustDomain: cluster.local\n":        "\nidentityTrustDomain: mesh.corp.example\n",
		"\nproxyContainerName: linkerd-proxy\n":         "\nproxyContainerName: mesh-sidecar\n",
		"  defaultInboundPolicy: all-unauthenticated\n": "  defaultInboundPolicy: deny\n",
	} {
		if !strings.Contains(v, old) {
			t.Fatalf("fixture values no longer contain %q", old)
		}
		v = strings.Replace(v, old, repl, 1)
	}
	cm.Data["values"] = v
	got, err := ParseConfig(cm)
	if err != nil {
		t.Fatal(err)
	}
	want := Facts{
		LinkerdNamespace:   "mesh-system",
		ClusterDomain:      "corp.example",
		TrustDomain:        "mesh.corp.example",
		ProxyContainerName: "mesh-sidecar",
		InboundPolicy:      "deny",
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseConfig(t *testing.T) {
	const complete = "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nproxyContainerName: linkerd-proxy\n"
	cm := func(ns string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: ns}, Data: data}
	}
	tests := []struct {
		name    string
		cm      *corev1.ConfigMap
		policy  string
		wantErr []string
	}{
		{name: "complete minimal config", cm: cm("linkerd", map[string]string{"values": complete}), policy: DefaultInboundPolicy},
		{name: "inbound policy kept as written", cm: cm("linkerd", map[string]string{"values": complete + "proxy:\n  defaultInboundPolicy: not-a-policy\n"}), policy: "not-a-policy"},
		{name: "nil", wantErr: []string{"no ConfigMap"}},
		{name: "no namespace", cm: cm("", map[string]string{"values": complete}), wantErr: []string{"no namespace"}},
		{name: "no values key (old Linkerd)", cm: cm("linkerd", map[string]string{"global": "{}"}), wantErr: []string{`"values" is missing`, "too old"}},
		{name: "values not YAML", cm: cm("linkerd", map[string]string{"values": "clusterDomain: [unclosed"}), wantErr: []string{"not valid YAML", "too old"}},
		{name: "values a list", cm: cm("linkerd", map[string]string{"values": "- a\n- b\n"}), wantErr: []string{"not valid YAML", "too old"}},
		{name: "wrong type", cm: cm("linkerd", map[string]string{"values": "clusterDomain: {a: b}\nidentityTrustDomain: x\nproxyContainerName: y\n"}), wantErr: []string{"not valid YAML"}},
		{name: "empty values", cm: cm("linkerd", map[string]string{"values": ""}), wantErr: []string{"clusterDomain, identityTrustDomain, proxyContainerName missing", "too old"}},
		{name: "proxyContainerName missing", cm: cm("linkerd", map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\n"}), wantErr: []string{"proxyContainerName missing", "too old"}},
		{name: "trust domain empty", cm: cm("linkerd", map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: \"\"\nproxyContainerName: linkerd-proxy\n"}), wantErr: []string{"identityTrustDomain missing or empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConfig(tt.cm)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got.InboundPolicy != tt.policy {
					t.Errorf("InboundPolicy = %q, want %q", got.InboundPolicy, tt.policy)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, got %+v", got)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReadConfig(t *testing.T) {
	moved := fixtureConfigMap(t).DeepCopy()
	moved.Namespace = "mesh-system"
	tests := []struct {
		name      string
		objects   []runtime.Object
		namespace string
		want      string
		wantErr   []string
	}{
		{name: "default namespace", objects: []runtime.Object{fixtureConfigMap(t)}, want: "linkerd"},
		{name: "named namespace", objects: []runtime.Object{moved}, namespace: "mesh-system", want: "mesh-system"},
		{name: "not in the default namespace", objects: []runtime.Object{moved},
			wantErr: []string{`Linkerd is not installed in namespace "linkerd"`, "install Linkerd or name its namespace with -L/--linkerd-namespace"}},
		{name: "not in the named namespace", objects: []runtime.Object{fixtureConfigMap(t)}, namespace: "other",
			wantErr: []string{`Linkerd is not installed in namespace "other"`, "-L/--linkerd-namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadConfig(context.Background(), fake.NewClientset(tt.objects...), tt.namespace)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.LinkerdNamespace != tt.want || got.VizNamespace != "" {
				t.Errorf("ReadConfig = %+v, want the control plane in %s and no viz namespace", got, tt.want)
			}
		})
	}
}

func TestReadConfigForbidden(t *testing.T) {
	client := fake.NewClientset()
	denied := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, ConfigMapName, errors.New("rbac"))
	client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, denied
	})
	_, err := ReadConfig(context.Background(), client, "")
	if !apierrors.IsForbidden(err) {
		t.Fatalf("error %v does not wrap the Forbidden error", err)
	}
	const want = `permission denied: cannot get configmaps "linkerd-config" in namespace "linkerd"`
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "kubectl auth can-i get configmaps -n linkerd") {
		t.Errorf("error %q does not say which permission is missing", err)
	}
}
