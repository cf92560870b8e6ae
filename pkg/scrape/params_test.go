package scrape

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
)

func TestFromLinkerdConfigFixture(t *testing.T) {
	cm := fixtureConfigMap(t, "linkerd/control-plane.yaml", LinkerdConfigName)
	got, err := FromLinkerdConfig(cm)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{
		LinkerdNamespace:   "linkerd",
		ClusterDomain:      "cluster.local",
		TrustDomain:        "cluster.local",
		ProxyContainerName: "linkerd-proxy",
	}
	if got != want {
		t.Errorf("FromLinkerdConfig(fixture) = %+v, want %+v", got, want)
	}
}

// TestFromLinkerdConfigFollowsTheConfigMap edits the fixture's values and namespace and checks
// every edit comes through, so no field is read from a default.
func TestFromLinkerdConfigFollowsTheConfigMap(t *testing.T) {
	cm := fixtureConfigMap(t, "linkerd/control-plane.yaml", LinkerdConfigName).DeepCopy()
	cm.Namespace = "mesh-system"
	v := cm.Data["values"]
	for old, repl := range map[string]string{
		"\nclusterDomain: cluster.local\n":       "\nclusterDomain: corp.example\n",
		"\nidentityTrustDomain: cluster.local\n": "\nidentityTrustDomain: mesh.corp.example\n",
		"\nproxyContainerName: linkerd-proxy\n":  "\nproxyContainerName: mesh-sidecar\n",
	} {
		if !strings.Contains(v, old) {
			t.Fatalf("fixture values no longer contain %q", old)
		}
		v = strings.Replace(v, old, repl, 1)
	}
	cm.Data["values"] = v
	got, err := FromLinkerdConfig(cm)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{
		LinkerdNamespace:   "mesh-system",
		ClusterDomain:      "corp.example",
		TrustDomain:        "mesh.corp.example",
		ProxyContainerName: "mesh-sidecar",
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestFromLinkerdConfigBroken(t *testing.T) {
	const complete = "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\nproxyContainerName: linkerd-proxy\n"
	cm := func(ns string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: LinkerdConfigName, Namespace: ns},
			Data:       data,
		}
	}
	tests := []struct {
		name string
		cm   *corev1.ConfigMap
		want []string
	}{
		{"nil", nil, []string{"no ConfigMap"}},
		{"no namespace", cm("", map[string]string{"values": complete}), []string{"no namespace"}},
		{"no values key (old Linkerd)", cm("linkerd", map[string]string{"global": "{}"}), []string{`"values" is missing`, "too old"}},
		{"values not YAML", cm("linkerd", map[string]string{"values": "clusterDomain: [unclosed"}), []string{"not valid YAML", "too old"}},
		{"values a list", cm("linkerd", map[string]string{"values": "- a\n- b\n"}), []string{"not valid YAML", "too old"}},
		{"wrong type", cm("linkerd", map[string]string{"values": "clusterDomain: {a: b}\nidentityTrustDomain: x\nproxyContainerName: y\n"}), []string{"not valid YAML"}},
		{"empty values", cm("linkerd", map[string]string{"values": ""}), []string{"clusterDomain, identityTrustDomain, proxyContainerName missing", "too old"}},
		{"proxyContainerName missing", cm("linkerd", map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: cluster.local\n"}), []string{"proxyContainerName missing", "too old"}},
		{"trust domain empty", cm("linkerd", map[string]string{"values": "clusterDomain: cluster.local\nidentityTrustDomain: \"\"\nproxyContainerName: linkerd-proxy\n"}), []string{"identityTrustDomain missing or empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromLinkerdConfig(tt.cm)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := FromLinkerdConfig(cm("linkerd", map[string]string{"values": complete})); err != nil {
		t.Errorf("the complete minimal config was rejected: %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults() is invalid: %v", err)
	}
	bad := Params{
		LinkerdNamespace:   "",
		VizNamespace:       "Viz",
		ClusterDomain:      "cluster.local",
		TrustDomain:        "-bad-",
		ProxyContainerName: "proxy(.*)",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid params accepted")
	}
	for _, w := range []string{"Linkerd namespace is empty", `viz namespace "Viz"`, `identity trust domain "-bad-"`, `proxy container name "proxy(.*)"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "cluster domain") {
		t.Errorf("the valid cluster domain was reported: %v", err)
	}
}

func TestDiscover(t *testing.T) {
	linkerdCM := fixtureConfigMap(t, "linkerd/control-plane.yaml", LinkerdConfigName)
	vizNS := fixtureNamespace(t, "linkerd/viz.yaml", "linkerd-viz")
	plain := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	moved := linkerdCM.DeepCopy()
	moved.Namespace = "mesh-system"
	secondViz := vizNS.DeepCopy()
	secondViz.Name = "viz-two"

	tests := []struct {
		name             string
		objects          []runtime.Object
		linkerdNS, vizNS string
		want             Params
		wantErr          []string
	}{
		{
			name:    "fixture install, everything discovered",
			objects: []runtime.Object{linkerdCM, vizNS},
			want:    Params{"linkerd", "linkerd-viz", "cluster.local", "cluster.local", "linkerd-proxy"},
		},
		{
			name:      "control plane elsewhere, viz named",
			objects:   []runtime.Object{moved, plain("observability")},
			linkerdNS: "mesh-system",
			vizNS:     "observability",
			want:      Params{"mesh-system", "observability", "cluster.local", "cluster.local", "linkerd-proxy"},
		},
		{
			name:    "Linkerd not in the default namespace",
			objects: []runtime.Object{moved, vizNS},
			wantErr: []string{`namespace "linkerd"`, "not installed", "-L/--linkerd-namespace"},
		},
		{
			name:      "Linkerd not in the named namespace",
			objects:   []runtime.Object{linkerdCM, vizNS},
			linkerdNS: "other",
			wantErr:   []string{`namespace "other"`, "not installed", "-L/--linkerd-namespace"},
		},
		{
			name:    "no viz",
			objects: []runtime.Object{linkerdCM},
			wantErr: []string{"linkerd-viz is not installed", VizExtensionSelector},
		},
		{
			name:    "two viz namespaces",
			objects: []runtime.Object{linkerdCM, vizNS, secondViz},
			wantErr: []string{"linkerd-viz, viz-two"},
		},
		{
			name:    "named viz namespace missing",
			objects: []runtime.Object{linkerdCM, vizNS},
			vizNS:   "nope",
			wantErr: []string{`"nope" does not exist`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			got, err := Discover(context.Background(), client, tt.linkerdNS, tt.vizNS)
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
			if got != tt.want {
				t.Errorf("Discover = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDiscoverForbidden(t *testing.T) {
	client := fake.NewClientset()
	denied := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, LinkerdConfigName, errors.New("rbac"))
	client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, denied
	})
	_, err := Discover(context.Background(), client, "", "")
	if !apierrors.IsForbidden(err) {
		t.Fatalf("error %v does not wrap the Forbidden error", err)
	}
	if !strings.Contains(err.Error(), "needs get on configmaps") {
		t.Errorf("error %q does not say which permission is missing", err)
	}
}
