package policy

import (
	"context"
	"errors"
	"slices"

	"github.com/meshmon/meshmon/pkg/change"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"github.com/meshmon/meshmon/pkg/kube"
)

// DeleteOptions tune Delete.
type DeleteOptions struct {
	// DryRun sends every write with dryRun=All.
	DryRun bool
	// FieldManager (for un-merging a foreign MeshTLSAuthentication) defaults to "meshmon".
	FieldManager string
}

// Delete removes objs (from Build) and stale objects of the same meshmon installation, Servers
// first so enforcement stops before the authorizations go. It deletes only objects labelled as
// meshmon's; from a MeshTLSAuthentication meshmon does not own it removes just the identities it
// recorded as added. Running it again is harmless.
func Delete(ctx context.Context, c Clients, objs []*unstructured.Unstructured, opts DeleteOptions) (change.Changes, error) {
	if opts.FieldManager == "" {
		opts.FieldManager = managerName
	}
	gvrs, err := c.resolve(ctx, allKinds())
	if errors.Is(err, ErrCRDsNotInstalled) {
		changes := make(change.Changes, 0, len(objs))
		for _, o := range objs {
			ch := changeFor(o, change.Absent, opts.DryRun)
			ch.Detail = "policy.linkerd.io is not installed"
			changes = append(changes, ch)
		}
		return changes, nil
	}
	if err != nil {
		return nil, err
	}

	instance := instanceOf(objs)
	targets := slices.Clone(objs)
	expected := map[string]bool{}
	for _, o := range objs {
		expected[key(o)] = true
	}
	managed, err := c.listManaged(ctx, gvrs, instance)
	if err != nil {
		return nil, err
	}
	for _, m := range managed {
		if !expected[key(m)] {
			targets = append(targets, m)
		}
	}
	sortForApply(targets)
	slices.Reverse(targets)

	changes := make(change.Changes, 0, len(targets))
	for _, t := range targets {
		ch, err := c.deleteOne(ctx, gvrs[t.GetKind()], t, instance, opts)
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

func (c Clients) deleteOne(ctx context.Context, gvr schema.GroupVersionResource, t *unstructured.Unstructured, instance string, opts DeleteOptions) (change.Change, error) {
	ri := c.Dynamic.Resource(gvr).Namespace(t.GetNamespace())
	ch := changeFor(t, change.Absent, opts.DryRun)
	live, err := ri.Get(ctx, t.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return ch, nil
	case err != nil:
		return change.Change{}, kube.ExplainAPIError("get", kube.ResourceName(gvr), t.GetNamespace(), t.GetName(), err)
	case !isManaged(live) && t.GetKind() == KindMeshTLSAuthentication:
		return c.unmerge(ctx, gvr, t, opts)
	case !isManaged(live):
		ch.Action, ch.Detail = change.Kept, "not managed by meshmon"
		return ch, nil
	case live.GetLabels()[LabelInstance] != instance:
		ch.Action, ch.Detail = change.Kept, "belongs to another meshmon installation ("+LabelInstance+"="+live.GetLabels()[LabelInstance]+")"
		return ch, nil
	}

	// The UID precondition stops a delete of a same-named object created since the Get.
	uid := live.GetUID()
	do := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	if opts.DryRun {
		do.DryRun = []string{metav1.DryRunAll}
	}
	switch err := ri.Delete(ctx, t.GetName(), do); {
	case apierrors.IsNotFound(err):
		return ch, nil
	case err != nil:
		return change.Change{}, kube.ExplainAPIError("delete", kube.ResourceName(gvr), t.GetNamespace(), t.GetName(), err)
	}
	ch.Action = change.Deleted
	return ch, nil
}

// unmerge is a read-modify-write with conflict retry, like the merge in Apply.
func (c Clients) unmerge(ctx context.Context, gvr schema.GroupVersionResource, t *unstructured.Unstructured, opts DeleteOptions) (change.Change, error) {
	ri := c.Dynamic.Resource(gvr).Namespace(t.GetNamespace())
	uo := metav1.UpdateOptions{FieldManager: opts.FieldManager}
	if opts.DryRun {
		uo.DryRun = []string{metav1.DryRunAll}
	}
	var ch change.Change
	err := retry.RetryOnConflict(conflictBackoff(), func() error {
		ch = changeFor(t, change.Kept, opts.DryRun)
		cur, err := ri.Get(ctx, t.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			ch.Action = change.Absent
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := cur.GetAnnotations()[AnnotationAddedIdentities]; !ok {
			ch.Detail = "not managed by meshmon, and meshmon added no identities to it"
			return nil
		}
		removed, empty, err := unmergeFrom(cur)
		if err != nil {
			return err
		}
		if empty {
			ch.Detail = "only identities meshmon added are left and a MeshTLSAuthentication cannot be empty; delete it yourself if nothing references it"
			return nil
		}
		if _, err := ri.Update(ctx, cur, uo); err != nil {
			return err
		}
		ch.Action, ch.Identities = change.Unmerged, removed
		ch.Detail = "not managed by meshmon: only the identities meshmon added were removed"
		return nil
	})
	if err != nil {
		return change.Change{}, kube.ExplainAPIError("update", kube.ResourceName(gvr), t.GetNamespace(), t.GetName(), err)
	}
	return ch, nil
}
