package policy

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/change"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestDelete(t *testing.T) {
	ctx := context.Background()
	foreign := foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, map[string]string{"team": "obs"})
	f := newFakeCluster(t, foreign)
	spec := func(s *Spec) { withClientAndScrapes(s); s.MTLSAuthenticationName = "scrapers" }
	objs := build(t, spec)
	if _, err := Apply(ctx, f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Stale: a namespace that was scraped by an earlier run.
	if _, err := Apply(ctx, f.clients(), build(t, func(s *Spec) { spec(s); s.ScrapeNamespaces = []string{"booksapp"} }), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// A same-named object meshmon did not create in a scraped namespace.
	theirs := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"port": "linkerd-admin"}}}
	theirs.SetAPIVersion(apiVersion(KindServer))
	theirs.SetKind(KindServer)
	theirs.SetNamespace("emojivoto")
	theirs.SetName("their-admin")
	f.stamp(theirs)
	if err := f.dyn.Tracker().Create(testGVRs()[KindServer], theirs, "emojivoto"); err != nil {
		t.Fatal(err)
	}
	// The owner adds an identity of their own after meshmon merged.
	m := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").DeepCopy()
	ids, _, _ := unstructured.NestedStringSlice(m.Object, "spec", "identities")
	_ = unstructured.SetNestedStringSlice(m.Object, append(ids, webID), "spec", "identities")
	f.put(m)
	f.dyn.ClearActions()

	changes, err := Delete(ctx, f.clients(), objs, DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := actionsOf(changes)
	for _, o := range objs {
		k := o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
		want := change.Deleted
		if o.GetKind() == KindMeshTLSAuthentication {
			want = change.Unmerged
		}
		if got[k] != want {
			t.Errorf("%s: %s, want %s", k, got[k], want)
		}
	}
	for _, k := range []string{"Server booksapp/" + ProxyAdminServerName, "HTTPRoute booksapp/" + ProxyMetricsRouteName, "AuthorizationPolicy booksapp/" + ProxyProbesRouteName} {
		if got[k] != change.Deleted {
			t.Errorf("stale %s: %s, want deleted", k, got[k])
		}
	}
	if f.count() != 2 {
		t.Errorf("%d objects left, want the foreign MeshTLSAuthentication and their Server", f.count())
	}
	if f.get(KindServer, "emojivoto", "their-admin") == nil {
		t.Error("a Server meshmon did not create was deleted")
	}
	left := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers")
	ids, _, _ = unstructured.NestedStringSlice(left.Object, "spec", "identities")
	if !slices.Equal(ids, []string{otherID, webID}) {
		t.Errorf("foreign identities after delete = %q, want the owner's only", ids)
	}
	if _, ok := left.GetAnnotations()[AnnotationAddedIdentities]; ok || left.GetLabels()["team"] != "obs" {
		t.Errorf("foreign metadata after delete: %v %v", left.GetAnnotations(), left.GetLabels())
	}

	// Servers go first so enforcement stops before its authorizations disappear.
	var order []string
	for _, a := range f.dyn.Actions() {
		if a.GetVerb() == "delete" {
			order = append(order, a.GetResource().Resource)
		}
	}
	if len(order) == 0 || order[0] != "servers" || slices.Index(order, "authorizationpolicies") < slices.Index(order, "servers") {
		t.Errorf("delete order %v", order)
	}

	// Idempotent.
	changes, err = Delete(ctx, f.clients(), objs, DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != change.Absent && c.Action != change.Kept {
			t.Errorf("second delete %s %s/%s: %s", c.Kind, c.Namespace, c.Name, c.Action)
		}
	}
}

func TestDeleteKeepsUnmanagedAndOtherInstances(t *testing.T) {
	ctx := context.Background()
	f := newFakeCluster(t)
	objs := build(t, nil)
	if _, err := Apply(ctx, f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := f.get(KindServer, "linkerd-viz", ServerName).DeepCopy()
	srv.SetLabels(map[string]string{"app": "hand-made"})
	f.put(srv)
	ap := f.get(KindAuthorizationPolicy, "linkerd-viz", AdminAuthorizationName).DeepCopy()
	lbl := ap.GetLabels()
	lbl[LabelInstance] = "monitoring.prometheus-server"
	ap.SetLabels(lbl)
	f.put(ap)

	changes, err := Delete(ctx, f.clients(), objs, DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		switch c.Kind {
		case KindServer:
			if c.Action != change.Kept || c.Detail != "not managed by meshmon" {
				t.Errorf("%s: %s (%s), want kept as not managed", c.Kind, c.Action, c.Detail)
			}
		case KindAuthorizationPolicy:
			if c.Action != change.Kept || !strings.Contains(c.Detail, "another meshmon installation") {
				t.Errorf("%s: %s (%s), want kept as another installation's", c.Kind, c.Action, c.Detail)
			}
		case KindMeshTLSAuthentication:
			if c.Action != change.Deleted {
				t.Errorf("%s: %s, want deleted", c.Kind, c.Action)
			}
		}
	}
	if f.get(KindServer, "linkerd-viz", ServerName) == nil || f.get(KindAuthorizationPolicy, "linkerd-viz", AdminAuthorizationName) == nil {
		t.Error("an object that is not this installation's was deleted")
	}
}

func TestDeleteDryRun(t *testing.T) {
	ctx := context.Background()
	f := newFakeCluster(t, foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil))
	objs := build(t, func(s *Spec) { withClientAndScrapes(s); s.MTLSAuthenticationName = "scrapers" })
	if _, err := Apply(ctx, f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	before := f.count()
	changes, err := Delete(ctx, f.clients(), objs, DeleteOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.count() != before {
		t.Errorf("dry run deleted objects: %d → %d", before, f.count())
	}
	if ids, _, _ := unstructured.NestedStringSlice(f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").Object, "spec", "identities"); len(ids) != 4 {
		t.Errorf("dry run un-merged identities: %q", ids)
	}
	if a := actionsOf(changes)["Server linkerd-viz/"+ServerName]; a != change.Deleted {
		t.Errorf("dry-run report for the Server: %s", a)
	}
}

func TestDeleteUnmergeRetriesOnConflict(t *testing.T) {
	ctx := context.Background()
	f := newFakeCluster(t, foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil))
	objs := build(t, func(s *Spec) { s.MTLSAuthenticationName = "scrapers" })
	if _, err := Apply(ctx, f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	injected := false
	f.dyn.PrependReactor("update", "meshtlsauthentications", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !injected {
			injected = true
			cur := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").DeepCopy()
			ids, _, _ := unstructured.NestedStringSlice(cur.Object, "spec", "identities")
			_ = unstructured.SetNestedStringSlice(cur.Object, append(ids, webID), "spec", "identities")
			f.put(cur)
		}
		return false, nil, nil
	})
	if _, err := Delete(ctx, f.clients(), objs, DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ids, _, _ := unstructured.NestedStringSlice(f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").Object, "spec", "identities")
	if !slices.Equal(ids, []string{otherID, webID}) {
		t.Errorf("identities = %q, want the owner's and the concurrent writer's", ids)
	}
}

func TestDeleteWithoutCRDs(t *testing.T) {
	f := newFakeCluster(t)
	f.setDiscovery(false, false)
	changes, err := Delete(context.Background(), f.clients(), build(t, nil), DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != change.Absent || !strings.Contains(c.Detail, "not installed") {
			t.Errorf("%+v", c)
		}
	}
}
