package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/meshmon/meshmon/pkg/change"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun sends every write with dryRun=All: the API server validates it, nothing is stored.
	DryRun bool
	// FieldManager defaults to "meshmon".
	FieldManager string
	// Force takes over fields another manager set on meshmon's objects, and objects of the same
	// name that meshmon did not create. Without it both are errors.
	Force bool
}

func changeFor(o *unstructured.Unstructured, a change.Action, dryRun bool) change.Change {
	return change.Change{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Action: a, DryRun: dryRun}
}

type step struct {
	obj   *unstructured.Unstructured
	gvr   schema.GroupVersionResource
	live  *unstructured.Unstructured // nil: absent
	merge bool                       // a MeshTLSAuthentication meshmon does not own
}

// Apply writes objs (from Build) with server-side apply, except that identities are merged into
// an existing MeshTLSAuthentication meshmon does not own. Everything that can be checked is
// checked before the first write: CRDs, namespaces, referenced ServiceAccounts, ownership and
// RBAC. A write that still fails stops Apply; the change.Changes so far are returned with the error.
// The Server, which makes the policy take effect, is written last. An interrupted Apply (ctx
// cancelled) deletes the objects it created, on a context of its own bounded by
// defaults.UndoTimeout, so the policy is all or nothing: it then returns no changes and an error
// wrapping context.Canceled. Objects that existed before are left as the run found or wrote them.
func Apply(ctx context.Context, c Clients, objs []*unstructured.Unstructured, opts ApplyOptions) (change.Changes, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = managerName
	}
	if len(objs) == 0 {
		return change.Changes{}, nil
	}
	objs = slices.Clone(objs)
	sortForApply(objs)
	steps, err := c.plan(ctx, objs, opts)
	if err != nil {
		return nil, err
	}
	changes := make(change.Changes, 0, len(steps))
	for _, st := range steps {
		var ch change.Change
		if st.merge {
			ch, err = c.merge(ctx, st, opts)
		} else {
			ch, err = c.serverSideApply(ctx, st, opts)
		}
		if err != nil {
			if ctx.Err() != nil {
				return c.undoCreated(ctx, steps, changes, err)
			}
			return changes, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// undoCreated deletes what an interrupted Apply created: the objects absent when it planned,
// up to and including the one whose write was interrupted (it may have been stored).
func (c Clients) undoCreated(ctx context.Context, steps []step, done change.Changes, cause error) (change.Changes, error) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaults.UndoTimeout)
	defer cancel()
	var failed []error
	for i := len(done); i >= 0; i-- {
		st := steps[i]
		if st.live != nil || st.merge {
			continue
		}
		o := st.obj
		err := c.Dynamic.Resource(st.gvr).Namespace(o.GetNamespace()).Delete(uctx, o.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			failed = append(failed, kube.ExplainAPIError("delete", kube.ResourceName(st.gvr), o.GetNamespace(), o.GetName(), err))
		}
	}
	if len(failed) > 0 {
		return done, fmt.Errorf("interrupted while applying the authorization policy, and deleting the objects it had created failed (%w); "+
			"run the command again to finish the policy, or delete it with `policy delete`: %w", errors.Join(failed...), cause)
	}
	return nil, fmt.Errorf("interrupted while applying the authorization policy; the objects it had created were deleted again, so nothing of it is in place: %w", cause)
}

func (c Clients) plan(ctx context.Context, objs []*unstructured.Unstructured, opts ApplyOptions) ([]step, error) {
	if err := checkObjects(objs); err != nil {
		return nil, err
	}
	gvrs, err := c.resolve(ctx, kindsOf(objs))
	if err != nil {
		return nil, err
	}
	if err := c.checkReferences(ctx, objs); err != nil {
		return nil, err
	}

	steps := make([]step, 0, len(objs))
	var problems []error
	for _, o := range objs {
		st := step{obj: o, gvr: gvrs[o.GetKind()]}
		live, err := c.Dynamic.Resource(st.gvr).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, kube.ExplainAPIError("get", kube.ResourceName(st.gvr), o.GetNamespace(), o.GetName(), err)
		default:
			st.live = live
		}
		if st.live != nil && !isManaged(st.live) {
			switch {
			case st.live.GetLabels()["linkerd.io/extension"] != "":
				problems = append(problems, fmt.Errorf("%s %s/%s belongs to the Linkerd %s extension, which reverts edits on upgrade; meshmon will not change it",
					o.GetKind(), o.GetNamespace(), o.GetName(), st.live.GetLabels()["linkerd.io/extension"]))
			case o.GetKind() == KindMeshTLSAuthentication:
				st.merge = true
				want, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "identities")
				if _, _, err := mergeInto(st.live.DeepCopy(), want); err != nil {
					problems = append(problems, err)
				}
			case !opts.Force:
				problems = append(problems, fmt.Errorf("%s %s/%s already exists and is not managed by meshmon (no %s=%s label); remove it, or use --force to take it over",
					o.GetKind(), o.GetNamespace(), o.GetName(), LabelManagedBy, managerName))
			}
		}
		steps = append(steps, st)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if err := c.checkAccess(ctx, steps); err != nil {
		return nil, err
	}
	return steps, nil
}

// checkObjects rejects what the CRD schemas cannot: Linkerd's own validation of enum-like
// strings, names, and objects not built by this package.
func checkObjects(objs []*unstructured.Unstructured) error {
	var errs []error
	for _, o := range objs {
		id := fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		if applyRank(o.GetKind()) > applyRank(KindServer) || o.GetAPIVersion() != apiVersion(o.GetKind()) {
			errs = append(errs, fmt.Errorf("%s: unsupported %s %s", id, o.GetAPIVersion(), o.GetKind()))
			continue
		}
		if o.GetNamespace() == "" {
			errs = append(errs, fmt.Errorf("%s: no namespace", id))
		}
		if e := validation.IsDNS1123Subdomain(o.GetName()); len(e) > 0 {
			errs = append(errs, fmt.Errorf("%s: invalid name: %s", id, strings.Join(e, "; ")))
		}
		if !isManaged(o) || o.GetLabels()[LabelInstance] == "" {
			errs = append(errs, fmt.Errorf("%s: missing meshmon labels %s and %s", id, LabelManagedBy, LabelInstance))
		}
		if isVizOwnedName(o.GetName()) {
			errs = append(errs, fmt.Errorf("%s: that name belongs to linkerd-viz, which reverts edits on upgrade", id))
		}
		if o.GetKind() == KindServer {
			if p, _, _ := unstructured.NestedString(o.Object, "spec", "proxyProtocol"); !validProxyProtocol(p) {
				errs = append(errs, fmt.Errorf("%s: proxyProtocol %q is not one of unknown, HTTP/1, HTTP/2, gRPC, opaque, TLS", id, p))
			}
			if p, found, _ := unstructured.NestedString(o.Object, "spec", "accessPolicy"); found && !validInboundPolicy(p) {
				errs = append(errs, fmt.Errorf("%s: accessPolicy %q is not a Linkerd default policy", id, p))
			}
		}
	}
	return errors.Join(errs...)
}

func validProxyProtocol(p string) bool {
	return slices.Contains([]string{"unknown", "HTTP/1", "HTTP/2", "gRPC", "opaque", "TLS"}, p)
}

// checkReferences verifies namespaces and the ServiceAccounts that AuthorizationPolicies name;
// a policy for a ServiceAccount that does not exist is almost always a typo.
func (c Clients) checkReferences(ctx context.Context, objs []*unstructured.Unstructured) error {
	var errs []error
	seenNS := map[string]bool{}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	for _, o := range objs {
		ns := o.GetNamespace()
		if seenNS[ns] {
			continue
		}
		seenNS[ns] = true
		_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("namespace %q does not exist", ns))
		case err != nil:
			return kube.ExplainAPIError("get", kube.ResourceName(nsGVR), "", ns, err)
		}
	}

	saGVR := schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	seenSA := map[ServiceAccountRef]bool{}
	for _, o := range objs {
		if o.GetKind() != KindAuthorizationPolicy {
			continue
		}
		refs, _, _ := unstructured.NestedSlice(o.Object, "spec", "requiredAuthenticationRefs")
		for _, r := range refs {
			m, _ := r.(map[string]any)
			if kind, _, _ := unstructured.NestedString(m, "kind"); kind != "ServiceAccount" {
				continue
			}
			sa := ServiceAccountRef{Name: fmt.Sprint(m["name"]), Namespace: o.GetNamespace()}
			if ns, _, _ := unstructured.NestedString(m, "namespace"); ns != "" {
				sa.Namespace = ns
			}
			if seenSA[sa] {
				continue
			}
			seenSA[sa] = true
			_, err := c.Kube.CoreV1().ServiceAccounts(sa.Namespace).Get(ctx, sa.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				if flag := o.GetAnnotations()[AnnotationAllowClient]; flag != "" {
					errs = append(errs, fmt.Errorf("--allow-client %s: ServiceAccount %q does not exist in namespace %q; check the spelling, or create it first", flag, sa.Name, sa.Namespace))
				} else {
					errs = append(errs, fmt.Errorf("ServiceAccount %s (authorized by %s %s/%s) does not exist; is linkerd-viz installed in %q?", sa, o.GetKind(), o.GetNamespace(), o.GetName(), sa.Namespace))
				}
			case err != nil:
				return kube.ExplainAPIError("get", kube.ResourceName(saGVR), sa.Namespace, sa.Name, err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkAccess asks the API server (SelfSubjectAccessReview) whether every write is allowed, so a
// missing RBAC rule fails before anything is written rather than half-way.
func (c Clients) checkAccess(ctx context.Context, steps []step) error {
	type req struct{ verb, ns, name string }
	var denied []string
	seen := map[string]bool{}
	for _, st := range steps {
		var reqs []req
		switch {
		case st.merge:
			reqs = []req{{"update", st.obj.GetNamespace(), st.obj.GetName()}}
		case st.live == nil:
			// Create requests carry no name, so resourceNames rules never grant them.
			reqs = []req{{"patch", st.obj.GetNamespace(), st.obj.GetName()}, {"create", st.obj.GetNamespace(), ""}}
		default:
			reqs = []req{{"patch", st.obj.GetNamespace(), st.obj.GetName()}}
		}
		for _, r := range reqs {
			k := fmt.Sprint(r.verb, st.gvr, r.ns, r.name)
			if seen[k] {
				continue
			}
			seen[k] = true
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: r.ns, Verb: r.verb, Group: st.gvr.Group, Version: st.gvr.Version, Resource: st.gvr.Resource, Name: r.name,
				},
			}}
			res, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("checking permission to %s %s.%s in namespace %q: %w", r.verb, st.gvr.Resource, st.gvr.Group, r.ns, err)
			}
			if !res.Status.Allowed {
				denied = append(denied, fmt.Sprintf("%s %s.%s in namespace %q", r.verb, st.gvr.Resource, st.gvr.Group, r.ns))
			}
		}
	}
	if len(denied) > 0 {
		return fmt.Errorf("permission denied, nothing was applied; ask a cluster admin to allow: %s", strings.Join(denied, "; "))
	}
	return nil
}

func (c Clients) serverSideApply(ctx context.Context, st step, opts ApplyOptions) (change.Change, error) {
	po := metav1.PatchOptions{FieldManager: opts.FieldManager, Force: &opts.Force}
	if opts.DryRun {
		po.DryRun = []string{metav1.DryRunAll}
	}
	got, err := c.ssa().apply(ctx, st.gvr, st.obj, po)
	if err != nil {
		if apierrors.IsConflict(err) && !opts.Force {
			return change.Change{}, fmt.Errorf("%s %s/%s: another field manager owns fields meshmon sets (someone edited it); use --force to restore meshmon's values: %w",
				st.obj.GetKind(), st.obj.GetNamespace(), st.obj.GetName(), err)
		}
		return change.Change{}, kube.ExplainAPIError("patch", kube.ResourceName(st.gvr), st.obj.GetNamespace(), st.obj.GetName(), err)
	}
	action := change.Unchanged
	switch {
	case st.live == nil:
		action = change.Created
	case st.live.GetResourceVersion() != got.GetResourceVersion() || !sameContent(st.live, got):
		// A dry run stores nothing, so the resourceVersion stays; the content still tells.
		action = change.Configured
	}
	return changeFor(st.obj, action, opts.DryRun), nil
}

func sameContent(a, b *unstructured.Unstructured) bool {
	return reflect.DeepEqual(a.Object["spec"], b.Object["spec"]) &&
		reflect.DeepEqual(a.GetLabels(), b.GetLabels()) &&
		reflect.DeepEqual(a.GetAnnotations(), b.GetAnnotations())
}

// merge is a read-modify-write guarded by resourceVersion: on a conflict it re-reads and merges
// again, so identities another writer added in between are kept.
func (c Clients) merge(ctx context.Context, st step, opts ApplyOptions) (change.Change, error) {
	want, _, _ := unstructured.NestedStringSlice(st.obj.Object, "spec", "identities")
	ri := c.Dynamic.Resource(st.gvr).Namespace(st.obj.GetNamespace())
	uo := metav1.UpdateOptions{FieldManager: opts.FieldManager}
	if opts.DryRun {
		uo.DryRun = []string{metav1.DryRunAll}
	}
	var ch change.Change
	err := retry.RetryOnConflict(conflictBackoff(), func() error {
		ch = changeFor(st.obj, change.Unchanged, opts.DryRun)
		ch.Detail = "not managed by meshmon: already matches every scraper identity"
		cur, err := ri.Get(ctx, st.obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		added, changed, err := mergeInto(cur, want)
		if err != nil || !changed {
			return err
		}
		if _, err := ri.Update(ctx, cur, uo); err != nil {
			return err
		}
		ch.Action, ch.Identities = change.Merged, added
		ch.Detail = "not managed by meshmon: identities added, none removed"
		if len(added) == 0 {
			ch.Action, ch.Detail = change.Configured, "not managed by meshmon: updated meshmon's record of what it added"
		}
		return nil
	})
	if err != nil {
		return change.Change{}, kube.ExplainAPIError("update", kube.ResourceName(st.gvr), st.obj.GetNamespace(), st.obj.GetName(), err)
	}
	return ch, nil
}
