package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/kube"
)

// ErrCRDsNotInstalled means the cluster does not serve the policy.linkerd.io API.
var ErrCRDsNotInstalled = errors.New("Linkerd policy CRDs (policy.linkerd.io) are not installed; " +
	"install Linkerd ≥ 2.16 (`linkerd install --crds | kubectl apply -f -` or the linkerd-crds Helm chart) and retry")

// Clients are the API clients this package needs.
type Clients struct {
	Dynamic dynamic.Interface
	// Kube is used for discovery, Namespaces, ServiceAccounts, Pods and access reviews.
	Kube kubernetes.Interface

	// applier is the server-side apply call; nil means dynamicApplier. Tests replace it
	// because client-go's fake dynamic client cannot do server-side apply.
	applier serverSideApplier
}

type serverSideApplier interface {
	apply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, opts metav1.PatchOptions) (*unstructured.Unstructured, error)
}

type dynamicApplier struct{ client dynamic.Interface }

func (d dynamicApplier) apply(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, opts metav1.PatchOptions) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return d.client.Resource(gvr).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
}

func (c Clients) ssa() serverSideApplier {
	if c.applier != nil {
		return c.applier
	}
	return dynamicApplier{client: c.Dynamic}
}

// resolve maps each kind to the resource the cluster serves for the version meshmon writes.
func (c Clients) resolve(ctx context.Context, kinds []string) (map[string]schema.GroupVersionResource, error) {
	disco := discovery.ToServerResourcesInterfaceWithContext(c.Kube.Discovery())
	lists := map[string]*metav1.APIResourceList{}
	found := 0
	for _, k := range kinds {
		gv := apiVersion(k)
		if _, done := lists[gv]; done {
			continue
		}
		l, err := disco.ServerResourcesForGroupVersionWithContext(ctx, gv)
		switch {
		case apierrors.IsNotFound(err):
			lists[gv] = nil
		case err != nil:
			return nil, fmt.Errorf("discovering %s: %w", gv, err)
		default:
			lists[gv] = l
			found++
		}
	}
	if found == 0 {
		return nil, ErrCRDsNotInstalled
	}
	out := map[string]schema.GroupVersionResource{}
	var missing []string
	for _, k := range kinds {
		gv := apiVersion(k)
		var res string
		if l := lists[gv]; l != nil {
			for _, r := range l.APIResources {
				if r.Kind == k && !strings.Contains(r.Name, "/") {
					res = r.Name
				}
			}
		}
		if res == "" {
			if !slices.Contains(missing, k+" "+gv) {
				missing = append(missing, k+" "+gv)
			}
			continue
		}
		out[k] = schema.FromAPIVersionAndKind(gv, k).GroupVersion().WithResource(res)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the installed Linkerd policy CRDs do not serve %s; upgrade Linkerd to ≥ 2.16 (CRDs first) and retry",
			strings.Join(missing, ", "))
	}
	return out, nil
}

// Served checks that the cluster serves every policy.linkerd.io kind meshmon
// writes, at the version it writes; the error says which are missing and how
// to fix it (ErrCRDsNotInstalled when none is).
func Served(ctx context.Context, c Clients) error {
	_, err := c.resolve(ctx, allKinds())
	return err
}

// Resources maps each policy.linkerd.io kind to the resource the cluster serves at the version
// meshmon writes it, so that readers elsewhere (the checks) list exactly what meshmon writes.
func Resources(ctx context.Context, c Clients, kinds ...string) (map[string]schema.GroupVersionResource, error) {
	return c.resolve(ctx, kinds)
}

// kindsOf lists the distinct kinds of objs.
func kindsOf(objs []*unstructured.Unstructured) []string {
	var kinds []string
	for _, o := range objs {
		if !slices.Contains(kinds, o.GetKind()) {
			kinds = append(kinds, o.GetKind())
		}
	}
	return kinds
}

// allKinds is every kind Build can produce, for finding stale objects of any of them.
func allKinds() []string {
	return []string{KindMeshTLSAuthentication, KindNetworkAuthentication, KindAuthorizationPolicy, KindHTTPRoute, KindServer}
}

// managedSelector selects the objects of one meshmon installation.
func managedSelector(instance string) string {
	return labels.Set{LabelManagedBy: managerName, LabelInstance: instance}.String()
}

func isManaged(obj *unstructured.Unstructured) bool {
	return obj.GetLabels()[LabelManagedBy] == managerName
}

func instanceOf(objs []*unstructured.Unstructured) string {
	for _, o := range objs {
		if v := o.GetLabels()[LabelInstance]; v != "" {
			return v
		}
	}
	return ""
}

// listManaged finds every object of this meshmon installation in all namespaces, including
// ones no longer built (a removed --allow-client, a namespace no longer scraped).
func (c Clients) listManaged(ctx context.Context, gvrs map[string]schema.GroupVersionResource, instance string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, kind := range allKinds() {
		gvr, ok := gvrs[kind]
		if !ok {
			continue
		}
		opts := metav1.ListOptions{LabelSelector: managedSelector(instance), Limit: 500}
		for {
			l, err := c.Dynamic.Resource(gvr).List(ctx, opts)
			if err != nil {
				return nil, kube.ExplainAPIError("list", kube.ResourceName(gvr), "", "", err)
			}
			for i := range l.Items {
				item := l.Items[i]
				item.SetKind(kind)
				out = append(out, &item)
			}
			if opts.Continue = l.GetContinue(); opts.Continue == "" {
				break
			}
		}
	}
	return out, nil
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}
