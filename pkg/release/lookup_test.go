package release

import (
	"context"
	"slices"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func storeRelease(t *testing.T, kc *fake.Clientset, ns, name string, status rcommon.Status, values map[string]any) {
	t.Helper()
	r := &rel.Release{
		Name: name, Namespace: ns, Version: 1, Config: values,
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "prometheus", Version: "27.3.0"}},
		Info:  &rel.Info{Status: status},
	}
	if err := storageTarget(kc, ns, name).Helm.Releases.Create(r); err != nil {
		t.Fatal(err)
	}
}

func TestDeployedListsTheNamespacesDeployedReleases(t *testing.T) {
	kc := fake.NewClientset()
	storeRelease(t, kc, "linkerd-viz", "prometheus", rcommon.StatusDeployed, nil)
	storeRelease(t, kc, "linkerd-viz", "canary", rcommon.StatusDeployed, nil)
	storeRelease(t, kc, "linkerd-viz", "gone", rcommon.StatusUninstalled, nil)
	storeRelease(t, kc, "other", "elsewhere", rcommon.StatusDeployed, nil)
	got, err := Deployed(kc, "linkerd-viz")
	if err != nil {
		t.Fatal(err)
	}
	want := []Summary{{Name: "canary", Chart: "prometheus-27.3.0"}, {Name: "prometheus", Chart: "prometheus-27.3.0"}}
	if !slices.Equal(got, want) {
		t.Errorf("Deployed = %+v, want %+v", got, want)
	}
	if got, err := Deployed(kc, "empty"); err != nil || len(got) != 0 {
		t.Errorf("Deployed(empty namespace) = %+v, %v, want none and no error", got, err)
	}
}

func TestStorageClassesMarkTheDefault(t *testing.T) {
	kc := fake.NewClientset(
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "fast-ssd"}},
	)
	got, err := StorageClasses(context.Background(), kc)
	if err != nil {
		t.Fatal(err)
	}
	want := []StorageClass{{Name: "fast-ssd"}, {Name: "standard", Default: true}}
	if !slices.Equal(got, want) {
		t.Errorf("StorageClasses = %+v, want %+v", got, want)
	}
}

func TestFederationSourceNamesReadTheDeployedValues(t *testing.T) {
	values := map[string]any{"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{}}}}
	for _, name := range []string{"west", "east"} {
		var err error
		if values, _, err = WithFederationSource(values, source(t, name, "https://"+name+".example.com/federate")); err != nil {
			t.Fatal(err)
		}
	}
	kc := fake.NewClientset()
	storeRelease(t, kc, "linkerd-viz", "prometheus", rcommon.StatusDeployed, values)
	got, err := FederationSourceNames(kc, "linkerd-viz", "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"east", "west"}) {
		t.Errorf("FederationSourceNames = %v, want [east west]", got)
	}
	if _, err := FederationSourceNames(kc, "linkerd-viz", "absent"); err == nil {
		t.Error("a missing release gave no error")
	}
}
