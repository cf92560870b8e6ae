package linkerd

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDiscover(t *testing.T) {
	linkerdCM := fixtureConfigMap(t)
	vizNS := fixtureVizNamespace(t)
	plain := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	moved := linkerdCM.DeepCopy()
	moved.Namespace = "mesh-system"
	secondViz := vizNS.DeepCopy()
	secondViz.Name = "viz-two"
	facts := func(linkerdNS, vizNS string) Facts {
		return Facts{LinkerdNamespace: linkerdNS, VizNamespace: vizNS, ClusterDomain: "cluster.local", TrustDomain: "cluster.local",
			ProxyContainerName: "linkerd-proxy", InboundPolicy: "all-unauthenticated"}
	}

	tests := []struct {
		name             string
		objects          []runtime.Object
		linkerdNS, vizNS string
		want             Facts
		wantErr          []string
	}{
		{
			name:    "fixture install, everything discovered",
			objects: []runtime.Object{linkerdCM, vizNS},
			want:    facts("linkerd", "linkerd-viz"),
		},
		{
			name:      "control plane elsewhere, viz named",
			objects:   []runtime.Object{moved, plain("observability")},
			linkerdNS: "mesh-system",
			vizNS:     "observability",
			want:      facts("mesh-system", "observability"),
		},
		{
			name:    "Linkerd not in the default namespace",
			objects: []runtime.Object{moved, vizNS},
			wantErr: []string{`namespace "linkerd"`, "not installed", "-L/--linkerd-namespace"},
		},
		{
			name:    "no viz",
			objects: []runtime.Object{linkerdCM},
			wantErr: []string{"linkerd-viz is not installed", VizExtensionSelector, "--viz-namespace"},
		},
		{
			name:    "two viz namespaces",
			objects: []runtime.Object{linkerdCM, secondViz, vizNS},
			wantErr: []string{"linkerd-viz, viz-two", "--viz-namespace"},
		},
		{
			name:    "named viz namespace missing",
			objects: []runtime.Object{linkerdCM, vizNS},
			vizNS:   "nope",
			wantErr: []string{`linkerd-viz is not installed: namespace "nope" does not exist`, "--viz-namespace"},
		},
		{
			name:    "invalid facts",
			objects: []runtime.Object{linkerdCM, plain("Viz")},
			vizNS:   "Viz",
			wantErr: []string{`viz namespace "Viz" is invalid`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Discover(context.Background(), fake.NewClientset(tt.objects...), tt.linkerdNS, tt.vizNS)
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

func TestValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults() is invalid: %v", err)
	}
	bad := Facts{
		LinkerdNamespace:   "",
		VizNamespace:       "Viz",
		ClusterDomain:      "cluster.local",
		TrustDomain:        "-bad-",
		ProxyContainerName: "proxy(.*)",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid facts accepted")
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
