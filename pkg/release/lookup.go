package release

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/kube"
)

// Summary names one deployed Helm release and its chart.
type Summary struct {
	Name  string
	Chart string // name-version, e.g. prometheus-27.3.0
}

// storageTarget reads releases straight from Helm's storage (the driver
// helmclient uses), which is all a lookup needs: no REST mapping, no
// kubeconfig beyond the client.
func storageTarget(kc kubernetes.Interface, namespace, name string) *Target {
	cfg := &action.Configuration{Releases: storage.Init(driver.NewSecrets(kc.CoreV1().Secrets(namespace)))}
	return &Target{Kube: kc, Helm: cfg, Namespace: namespace, Release: name}
}

// Deployed lists the Helm releases deployed in namespace, sorted by name
// (what --release-name can name).
func Deployed(kc kubernetes.Interface, namespace string) ([]Summary, error) {
	list, err := storageTarget(kc, namespace, "").Helm.Releases.ListDeployed()
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("listing Helm releases: %w", err)
	}
	var out []Summary
	for _, r := range list {
		v1, ok := r.(*rel.Release)
		if !ok {
			continue
		}
		s := Summary{Name: v1.Name}
		if v1.Chart != nil && v1.Chart.Metadata != nil {
			s.Chart = v1.Chart.Metadata.Name + "-" + v1.Chart.Metadata.Version
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// StorageClass is one of the cluster's classes (what --storage-class can name).
type StorageClass struct {
	Name    string
	Default bool
}

// StorageClasses lists the cluster's storage classes, sorted by name.
func StorageClasses(ctx context.Context, kc kubernetes.Interface) ([]StorageClass, error) {
	list, err := kc.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing StorageClasses: %w", err)
	}
	out := make([]StorageClass, 0, len(list.Items))
	for i := range list.Items {
		sc := &list.Items[i]
		out = append(out, StorageClass{Name: sc.Name, Default: kube.IsDefaultStorageClass(sc)})
	}
	slices.SortFunc(out, func(a, b StorageClass) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// FederationSourceNames lists the federation sources of release name in
// namespace (what `federate remove` can name).
func FederationSourceNames(kc kubernetes.Interface, namespace, name string) ([]string, error) {
	values, err := storageTarget(kc, namespace, name).DeployedValues()
	if err != nil {
		return nil, err
	}
	sources, _ := FederationSources(values)
	names := make([]string, 0, len(sources))
	for _, s := range sources {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names, nil
}
