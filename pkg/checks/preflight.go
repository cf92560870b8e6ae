package checks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/release/common"
	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/meshmon/meshmon/pkg/check"
	"github.com/meshmon/meshmon/pkg/policy"
)

// PreInstall checks what install needs besides Kubernetes and Linkerd:
// storage, a release Helm can upgrade, and the policy API.
func PreInstall(e *Env) check.Category {
	return check.Category{
		Name: CategoryPreInstall,
		Checks: []check.Check{
			{
				Description: "storage class for the data volume exists",
				HintAnchor:  "mm-pre-storage-class",
				Needs:       []string{idAPI},
				Run:         e.checkPreStorageClass,
			},
			{
				Description: "no Helm operation is pending on the release",
				HintAnchor:  "mm-pre-release",
				Retryable:   true,
				Needs:       e.nsNeeds(),
				Run:         e.checkPreRelease,
			},
			{
				Description: "Linkerd policy API is served",
				HintAnchor:  "mm-pre-policy-crds",
				Needs:       []string{idAPI},
				Run:         e.checkPrePolicyAPI,
			},
		},
	}
}

func (e *Env) checkPreStorageClass(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	switch sc := e.opts.StorageClass; sc {
	case "-":
		return check.Detail("\t* none: the claim will bind to a statically provisioned volume")
	case "":
		def, err := defaultStorageClass(ctx, e)
		if err != nil {
			return err
		}
		if def == "" {
			return fmt.Errorf("the cluster has no default StorageClass, so the data volume claim would stay Pending; name a class with --storage-class (kubectl get storageclass) or mark one as default (annotation %s=true)", isDefaultClassAnnotation)
		}
		return check.Detail("\t* " + def + " (default)")
	default:
		_, err := kc.StorageV1().StorageClasses().Get(ctx, sc, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("StorageClass %q does not exist, so the data volume claim would stay Pending; pick one of kubectl get storageclass", sc)
		case err != nil:
			return apiErr("get", "storageclasses", "", sc, err)
		}
		return check.Detail("\t* " + sc)
	}
}

func (e *Env) checkPreRelease(ctx context.Context) error {
	ns, err := e.promNamespace(ctx)
	if err != nil {
		return err
	}
	revs, err := e.deps.Releases(ctx, ns, e.opts.ReleaseName)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return check.Detail(fmt.Sprintf("\t* release %s will be installed in %s", e.opts.ReleaseName, ns))
	case err != nil:
		return fmt.Errorf("reading Helm release %s/%s: %w", ns, e.opts.ReleaseName, err)
	}
	sortNewestFirst(revs)
	rel := revs[0]
	if rel.Info == nil {
		return fmt.Errorf("Helm release %s/%s revision %d has no status information; the release record is damaged", ns, rel.Name, rel.Version)
	}
	if rel.Info.Status.IsPending() {
		e.releases.reset()
		return e.checkReleaseDeployed(ctx)
	}
	if rel.Info.Status == common.StatusFailed {
		return check.Warn(fmt.Errorf("the last operation on Helm release %s/%s failed (revision %d: %s); install will upgrade over it", ns, rel.Name, rel.Version, strings.TrimSpace(rel.Info.Description)))
	}
	return check.Detail(fmt.Sprintf("\t* release %s revision %d (%s) will be upgraded", rel.Name, rel.Version, rel.Info.Status))
}

func (e *Env) checkPrePolicyAPI(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	d := discovery.ToDiscoveryInterfaceWithContext(kc.Discovery())
	want := map[string][]string{
		policy.Group + "/v1beta3":  {"servers"},
		policy.Group + "/v1alpha1": {"authorizationpolicies", "meshtlsauthentications", "networkauthentications"},
	}
	var missing []string
	for _, gv := range []string{policy.Group + "/v1beta3", policy.Group + "/v1alpha1"} {
		list, err := d.ServerResourcesForGroupVersionWithContext(ctx, gv)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("discovering %s: %w", gv, err)
		}
		for _, r := range want[gv] {
			found := false
			if list != nil {
				for _, ar := range list.APIResources {
					found = found || ar.Name == r
				}
			}
			if !found {
				missing = append(missing, r+"."+gv)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the cluster does not serve the Linkerd policy resources meshmon writes (%s); upgrade Linkerd to 2.16 or newer, CRDs first", strings.Join(missing, ", "))
	}
	return nil
}
