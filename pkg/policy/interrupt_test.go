package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Ctrl-C while the Server (written last) is being applied: the objects this run created are
// deleted again, so no half policy is left, and a rerun applies all of it.
func TestInterruptedApplyLeavesNothing(t *testing.T) {
	f := newFakeCluster(t)
	objs := build(t, withClientAndScrapes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.ssa.before = func(gvr schema.GroupVersionResource) error {
		if gvr.Resource == "servers" {
			cancel()
			return context.Canceled
		}
		return nil
	}
	changes, err := Apply(ctx, f.clients(), objs, ApplyOptions{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "nothing of it is in place") {
		t.Fatalf("Apply error = %v, want an interruption that undid the policy", err)
	}
	if len(changes) != 0 {
		t.Errorf("changes reported although they were undone: %+v", changes)
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d policy objects left after an interrupted apply, want none", n)
	}
	f.ssa.before = nil
	if _, err := Apply(context.Background(), f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.count(); n != len(objs) {
		t.Errorf("rerun: %d objects, want %d", n, len(objs))
	}
}

// An interrupted re-apply deletes nothing that existed before it.
func TestInterruptedReapplyKeepsExistingObjects(t *testing.T) {
	f := newFakeCluster(t)
	objs := build(t, nil)
	if _, err := Apply(context.Background(), f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	more := build(t, withClientAndScrapes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.ssa.before = func(gvr schema.GroupVersionResource) error {
		if gvr.Resource == "servers" {
			cancel()
			return context.Canceled
		}
		return nil
	}
	if _, err := Apply(ctx, f.clients(), more, ApplyOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply error = %v, want the interruption", err)
	}
	for _, o := range objs {
		if f.get(o.GetKind(), o.GetNamespace(), o.GetName()) == nil {
			t.Errorf("%s %s/%s, applied before, was deleted by the interrupted re-apply", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}
	if n := f.count(); n != len(objs) {
		t.Errorf("%d objects after the interrupted re-apply, want the %d applied before", n, len(objs))
	}
}
