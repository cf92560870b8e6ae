//go:build e2e

// Package release tests install, uninstall and status against the real control plane,
// with the fixture chart in e2e/testdata/charts/prometheus.
package release

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// createNamespace makes a namespace for one test and removes it afterwards.
func createNamespace(t *testing.T, kc kubernetes.Interface, name string) {
	t.Helper()
	_, err := kc.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// noProvisionerClass is a StorageClass with no volumes: a PVC of that class never binds.
func noProvisionerClass(t *testing.T, kc kubernetes.Interface, name string) {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "kubernetes.io/no-provisioner"}
	if _, err := kc.StorageV1().StorageClasses().Create(ctx(t), sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// helmStore is Helm's Secret storage of a namespace, read and written with the SDK.
func helmStore(kc kubernetes.Interface, ns string) *storage.Storage {
	return storage.Init(driver.NewSecrets(kc.CoreV1().Secrets(ns)))
}

// revisions lists the release's stored revisions as "v<n>=<status>", oldest first.
func revisions(t *testing.T, kc kubernetes.Interface, ns, name string) []string {
	t.Helper()
	h, err := helmStore(kc, ns).History(name)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatalf("reading the history of %s/%s: %v", ns, name, err)
	}
	var rs []*rel.Release
	for _, r := range h {
		rs = append(rs, r.(*rel.Release))
	}
	slices.SortFunc(rs, func(a, b *rel.Release) int { return a.Version - b.Version })
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("v%d=%s", r.Version, r.Info.Status))
	}
	return out
}

func pvc(t *testing.T, kc kubernetes.Interface, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	p, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading PVC %s/%s: %v", ns, name, err)
	}
	return p
}

func waitBound(t *testing.T, kc kubernetes.Interface, ns, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	var p *corev1.PersistentVolumeClaim
	framework.Eventually(t, time.Minute, func() error {
		got, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.Status.Phase != corev1.ClaimBound {
			return fmt.Errorf("PVC %s/%s is %s", ns, name, got.Status.Phase)
		}
		p = got
		return nil
	})
	return p
}

func gone(t *testing.T, err error, what string) {
	t.Helper()
	if !apierrors.IsNotFound(err) {
		t.Errorf("%s still exists (err %v)", what, err)
	}
}

// snapshot names every object in the namespace (events aside, which controllers write
// on their own) and the cluster-scoped RBAC objects, with their UIDs.
func snapshot(t *testing.T, env *framework.Env, ns string) []string {
	t.Helper()
	kc, dc := env.Clients(t)
	lists, err := discovery.ServerPreferredResources(kc.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "list") || r.Name == "events" || strings.Contains(r.Name, "/") {
				continue
			}
			var ri dynamic.ResourceInterface = dc.Resource(gv.WithResource(r.Name))
			if r.Namespaced {
				ri = dc.Resource(gv.WithResource(r.Name)).Namespace(ns)
			} else if gv.Group != rbacv1.GroupName {
				continue
			}
			items, err := ri.List(ctx(t), metav1.ListOptions{})
			if err != nil {
				t.Fatalf("listing %s: %v", r.Name, err)
			}
			for _, it := range items.Items {
				out = append(out, fmt.Sprintf("%s/%s %s %s", gv.Group, r.Kind, it.GetName(), it.GetUID()))
			}
		}
	}
	slices.Sort(out)
	return out
}

// statusDoc is the part of `status -o json` the tests read.
type statusDoc struct {
	Release      string `json:"release"`
	Namespace    string `json:"namespace"`
	Revision     int    `json:"revision"`
	Status       string `json:"status"`
	Chart        string `json:"chart"`
	ChartVersion string `json:"chartVersion"`
	AppVersion   string `json:"appVersion"`
	LastDeployed string `json:"lastDeployed"`
	Workload     *struct {
		Kind    string `json:"kind"`
		Name    string `json:"name"`
		Ready   int    `json:"ready"`
		Desired int    `json:"desired"`
	} `json:"workload"`
	Storage []struct {
		Claim            string `json:"claim"`
		UID              string `json:"uid"`
		Phase            string `json:"phase"`
		Requested        string `json:"requested"`
		Capacity         string `json:"capacity"`
		StorageClass     string `json:"storageClass"`
		PersistentVolume string `json:"persistentVolume"`
		ReclaimPolicy    string `json:"reclaimPolicy"`
		StatefulSet      bool   `json:"statefulSet"`
		Keep             bool   `json:"keep"`
	} `json:"storage"`
	URL string `json:"url"`
}

func status(t *testing.T, env *framework.Env, args ...string) statusDoc {
	t.Helper()
	r := env.MustMeshmon(t, "kubectl", append([]string{"status", "-o", "json"}, args...)...)
	var doc statusDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("status -o json is not JSON: %v\n%s", err, r.Stdout)
	}
	if r.Stderr != "" {
		t.Errorf("status -o json wrote to stderr: %s", r.Stderr)
	}
	return doc
}

// expectFailure runs meshmon expecting exit code want and every text in stderr.
func expectFailure(t *testing.T, env *framework.Env, want int, texts []string, args ...string) framework.Result {
	t.Helper()
	r := env.Meshmon(t, "kubectl", args...)
	if r.Code != want {
		t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, want, r.Stdout, r.Stderr)
	}
	for _, s := range texts {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("%v: stderr lacks %q:\n%s", args, s, r.Stderr)
		}
	}
	return r
}

// nothingWritten checks that a refused install left no trace in ns.
func nothingWritten(t *testing.T, kc kubernetes.Interface, ns string) {
	t.Helper()
	if revs := revisions(t, kc, ns, "prometheus"); len(revs) != 0 {
		t.Errorf("a release record was written: %v", revs)
	}
	deps, err := kc.AppsV1().Deployments(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=prometheus"})
	if err != nil || len(deps.Items) != 0 {
		t.Errorf("Deployments were created: %v (%v)", deps, err)
	}
	pvcs, err := kc.CoreV1().PersistentVolumeClaims(ns).List(ctx(t), metav1.ListOptions{})
	if err != nil || len(pvcs.Items) != 0 {
		t.Errorf("PVCs were created: %d (%v)", len(pvcs.Items), err)
	}
	_, err = kc.RbacV1().ClusterRoles().Get(ctx(t), ns+"-prometheus-server", metav1.GetOptions{})
	gone(t, err, "ClusterRole "+ns+"-prometheus-server")
}
