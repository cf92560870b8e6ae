package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/change"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

const (
	vizPromID     = "prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	meshmonPromID = "prometheus-server.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	tapID         = "tap.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	webID         = "web.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"
	otherID       = "vmagent.monitoring.serviceaccount.identity.linkerd.cluster.local"
)

func build(t *testing.T, mutate func(*Spec)) []*unstructured.Unstructured {
	t.Helper()
	s := minimalSpec()
	if mutate != nil {
		mutate(&s)
	}
	objs, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func withClientAndScrapes(s *Spec) {
	s.AllowClients = []ServiceAccountRef{{Namespace: "grafana", Name: "grafana"}}
	s.AllowFederateFrom = []string{"192.0.2.0/24"}
	s.ScrapeNamespaces = []string{"emojivoto"}
}

func foreignMeshTLS(name string, spec map[string]any, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(apiVersion(KindMeshTLSAuthentication))
	u.SetKind(KindMeshTLSAuthentication)
	u.SetNamespace("linkerd-viz")
	u.SetName(name)
	u.SetLabels(labels)
	return u
}

func TestApplyCreatesThenReportsUnchanged(t *testing.T) {
	f := newFakeCluster(t)
	objs := build(t, withClientAndScrapes)
	ctx := context.Background()

	changes, err := Apply(ctx, f.clients(), objs, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != len(objs) {
		t.Fatalf("%d changes for %d objects", len(changes), len(objs))
	}
	for _, c := range changes {
		if c.Action != change.Created {
			t.Errorf("%s %s/%s: %s, want created", c.Kind, c.Namespace, c.Name, c.Action)
		}
	}
	if f.count() != len(objs) {
		t.Errorf("cluster holds %d objects, want %d", f.count(), len(objs))
	}
	for _, c := range f.ssa.calls {
		if c.opts.FieldManager != "meshmon" || c.opts.Force == nil || *c.opts.Force || len(c.opts.DryRun) != 0 {
			t.Errorf("apply %s/%s with options %+v", c.namespace, c.name, c.opts)
		}
	}
	// Written in safe order: the last writes are the Servers.
	last := f.ssa.calls[len(f.ssa.calls)-1]
	if last.gvr.Resource != "servers" {
		t.Errorf("last write is %s, want a Server", last.gvr.Resource)
	}

	changes, err = Apply(ctx, f.clients(), objs, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != change.Unchanged {
			t.Errorf("re-apply %s %s/%s: %s, want unchanged", c.Kind, c.Namespace, c.Name, c.Action)
		}
	}

	changed := build(t, func(s *Spec) { withClientAndScrapes(s); s.Port = 9091 })
	changes, err = Apply(ctx, f.clients(), changed, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := actionsOf(changes)
	if got["Server linkerd-viz/"+ServerName] != change.Configured {
		t.Errorf("Server after port change: %s, want configured", got["Server linkerd-viz/"+ServerName])
	}
	if got["AuthorizationPolicy linkerd-viz/"+AdminAuthorizationName] != change.Unchanged {
		t.Errorf("admin AuthorizationPolicy: %s, want unchanged", got["AuthorizationPolicy linkerd-viz/"+AdminAuthorizationName])
	}
}

func TestApplyDryRunStoresNothing(t *testing.T) {
	f := newFakeCluster(t)
	objs := build(t, withClientAndScrapes)
	changes, err := Apply(context.Background(), f.clients(), objs, ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.count() != 0 {
		t.Errorf("dry run stored %d objects", f.count())
	}
	for _, c := range changes {
		if c.Action != change.Created || !c.DryRun {
			t.Errorf("%s %s/%s: %s dryRun=%v, want created (dry run)", c.Kind, c.Namespace, c.Name, c.Action, c.DryRun)
		}
	}
	for _, c := range f.ssa.calls {
		if !slices.Equal(c.opts.DryRun, []string{metav1.DryRunAll}) {
			t.Errorf("apply %s/%s without dryRun=All", c.namespace, c.name)
		}
	}

	// A dry run over existing objects still reports what would change.
	if _, err := Apply(context.Background(), f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	changes, err = Apply(context.Background(), f.clients(), build(t, func(s *Spec) { withClientAndScrapes(s); s.Port = 9091 }), ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionsOf(changes)["Server linkerd-viz/"+ServerName]; a != change.Configured {
		t.Errorf("dry-run port change: %s, want configured", a)
	}
	if port, _, _ := unstructured.NestedInt64(f.get(KindServer, "linkerd-viz", ServerName).Object, "spec", "port"); port != 9090 {
		t.Errorf("dry run changed the stored port to %d", port)
	}
}

// Every validation failure must leave the cluster untouched.
func TestApplyValidatesBeforeWriting(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeCluster)
		spec  func(*Spec)
		opts  ApplyOptions
		want  []string
		is    error
	}{
		{
			name:  "CRDs missing",
			setup: func(f *fakeCluster) { f.setDiscovery(false, false) },
			want:  []string{"Linkerd policy CRDs (policy.linkerd.io) are not installed", "2.16"},
			is:    ErrCRDsNotInstalled,
		},
		{
			name:  "Linkerd older than 2.16",
			setup: func(f *fakeCluster) { f.setDiscovery(true, false) },
			want:  []string{"do not serve", "Server policy.linkerd.io/v1beta3", "upgrade Linkerd to ≥ 2.16"},
		},
		{
			name: "unknown --allow-client",
			spec: func(s *Spec) { s.AllowClients = []ServiceAccountRef{{Namespace: "grafana", Name: "grafanna"}} },
			want: []string{`--allow-client grafana/grafanna: ServiceAccount "grafanna" does not exist in namespace "grafana"`},
		},
		{
			name: "scrape namespace missing",
			spec: func(s *Spec) { s.ScrapeNamespaces = []string{"nope"} },
			want: []string{`namespace "nope" does not exist`},
		},
		{
			name:  "RBAC denies creating Servers",
			setup: func(f *fakeCluster) { f.denied["create servers linkerd-viz"] = true },
			want:  []string{"permission denied, nothing was applied", `create servers.policy.linkerd.io in namespace "linkerd-viz"`},
		},
		{
			name: "unmanaged Server with meshmon's name",
			setup: func(f *fakeCluster) {
				u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"port": int64(9090)}}}
				u.SetAPIVersion(apiVersion(KindServer))
				u.SetKind(KindServer)
				u.SetNamespace("linkerd-viz")
				u.SetName(ServerName)
				f.stamp(u)
				_ = f.dyn.Tracker().Create(testGVRs()[KindServer], u, "linkerd-viz")
			},
			want: []string{"Server linkerd-viz/prometheus-server-admin already exists and is not managed by meshmon", "--force"},
		},
		{
			name: "MeshTLSAuthentication owned by linkerd-viz",
			setup: func(f *fakeCluster) {
				u := foreignMeshTLS("viz-scrapers", map[string]any{"identities": []any{vizPromID}}, map[string]string{"linkerd.io/extension": "viz"})
				f.stamp(u)
				_ = f.dyn.Tracker().Create(testGVRs()[KindMeshTLSAuthentication], u, "linkerd-viz")
			},
			spec: func(s *Spec) { s.MTLSAuthenticationName = "viz-scrapers" },
			want: []string{"belongs to the Linkerd viz extension"},
		},
		{
			name: "identityRefs object cannot hold a foreign identity",
			setup: func(f *fakeCluster) {
				u := foreignMeshTLS("scrapers", map[string]any{"identityRefs": []any{map[string]any{"kind": "ServiceAccount", "name": "web"}}}, nil)
				f.stamp(u)
				_ = f.dyn.Tracker().Create(testGVRs()[KindMeshTLSAuthentication], u, "linkerd-viz")
			},
			spec: func(s *Spec) {
				s.MTLSAuthenticationName = "scrapers"
				s.ExtraIdentities = []string{"prometheus.monitoring.serviceaccount.identity.linkerd.other.domain"}
			},
			want: []string{"lists its clients as identityRefs, which cannot express prometheus.monitoring.serviceaccount.identity.linkerd.other.domain"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCluster(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			before := f.count()
			spec := minimalSpec()
			withClientAndScrapes(&spec)
			if tt.spec != nil {
				tt.spec(&spec)
			}
			objs, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Apply(context.Background(), f.clients(), objs, tt.opts)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error is not %v", tt.is)
			}
			if w := f.writes(); len(w) > 0 {
				t.Errorf("writes happened despite the error: %v", w)
			}
			if f.count() != before {
				t.Errorf("object count changed from %d to %d", before, f.count())
			}
		})
	}
}

func TestApplyAccessReviewsCoverEveryWrite(t *testing.T) {
	f := newFakeCluster(t)
	objs := build(t, nil)
	if _, err := Apply(context.Background(), f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		res := testGVRs()[o.GetKind()].Resource
		for _, verb := range []string{"patch", "create"} {
			if !slices.ContainsFunc(f.reviews, func(a authorizationv1.ResourceAttributes) bool {
				return a.Verb == verb && a.Resource == res && a.Namespace == o.GetNamespace() && a.Group == Group
			}) {
				t.Errorf("no access review for %s %s in %s", verb, res, o.GetNamespace())
			}
		}
	}
}

func TestApplyForbiddenWriteNamesVerbResourceNamespace(t *testing.T) {
	f := newFakeCluster(t)
	f.ssa.err = apierrors.NewForbidden(schema.GroupResource{Group: Group, Resource: "meshtlsauthentications"}, DefaultMTLSAuthenticationName, errors.New("RBAC: no"))
	_, err := Apply(context.Background(), f.clients(), build(t, nil), ApplyOptions{})
	want := `permission denied: cannot patch meshtlsauthentications.policy.linkerd.io "meshmon-prometheus" in namespace "linkerd-viz"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestApplyForceTakesOverUnmanagedObject(t *testing.T) {
	f := newFakeCluster(t)
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"port": int64(9090)}}}
	u.SetAPIVersion(apiVersion(KindServer))
	u.SetKind(KindServer)
	u.SetNamespace("linkerd-viz")
	u.SetName(ServerName)
	f.stamp(u)
	if err := f.dyn.Tracker().Create(testGVRs()[KindServer], u, "linkerd-viz"); err != nil {
		t.Fatal(err)
	}
	changes, err := Apply(context.Background(), f.clients(), build(t, nil), ApplyOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionsOf(changes)["Server linkerd-viz/"+ServerName]; a != change.Configured {
		t.Errorf("Server: %s, want configured", a)
	}
	if !isManaged(f.get(KindServer, "linkerd-viz", ServerName)) {
		t.Error("Server not labelled as meshmon's after --force")
	}
	for _, c := range f.ssa.calls {
		if c.opts.Force == nil || !*c.opts.Force {
			t.Errorf("apply %s/%s without force", c.namespace, c.name)
		}
	}
}

func TestApplyMergesIntoForeignMeshTLSAuthentication(t *testing.T) {
	foreign := foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID, tapID}}, map[string]string{"team": "obs"})
	f := newFakeCluster(t, foreign)
	objs := build(t, func(s *Spec) { s.MTLSAuthenticationName = "scrapers" })

	changes, err := Apply(context.Background(), f.clients(), objs, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ch change.Change
	for _, c := range changes {
		if c.Kind == KindMeshTLSAuthentication {
			ch = c
		}
	}
	if ch.Action != change.Merged || !slices.Equal(ch.Identities, []string{meshmonPromID, vizPromID}) {
		t.Errorf("change = %+v, want merged with prometheus-server and prometheus", ch)
	}
	live := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers")
	ids, _, _ := unstructured.NestedStringSlice(live.Object, "spec", "identities")
	if want := []string{otherID, tapID, meshmonPromID, vizPromID}; !slices.Equal(ids, want) {
		t.Errorf("identities = %q, want %q", ids, want)
	}
	if isManaged(live) || live.GetLabels()["team"] != "obs" {
		t.Errorf("labels of the foreign object changed: %v", live.GetLabels())
	}
	if got := live.GetAnnotations()[AnnotationAddedIdentities]; got != `["`+meshmonPromID+`","`+vizPromID+`"]` {
		t.Errorf("recorded identities = %s", got)
	}
	for _, c := range f.ssa.calls {
		if c.gvr.Resource == "meshtlsauthentications" {
			t.Error("server-side apply used on a foreign MeshTLSAuthentication")
		}
	}

	changes, err = Apply(context.Background(), f.clients(), objs, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionsOf(changes)["MeshTLSAuthentication linkerd-viz/scrapers"]; a != change.Unchanged {
		t.Errorf("second apply: %s, want unchanged", a)
	}
}

func TestApplyMergesIdentityRefs(t *testing.T) {
	foreign := foreignMeshTLS("scrapers", map[string]any{"identityRefs": []any{map[string]any{"kind": "ServiceAccount", "name": "web"}}}, nil)
	f := newFakeCluster(t, foreign)
	if _, err := Apply(context.Background(), f.clients(), build(t, func(s *Spec) { s.MTLSAuthenticationName = "scrapers" }), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	live := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers")
	if _, found, _ := unstructured.NestedSlice(live.Object, "spec", "identities"); found {
		t.Error("identities added next to identityRefs: Linkerd's schema forbids both")
	}
	refs, _, _ := unstructured.NestedSlice(live.Object, "spec", "identityRefs")
	var names []string
	for _, r := range refs {
		m := r.(map[string]any)
		names = append(names, m["kind"].(string)+":"+m["name"].(string))
	}
	if want := []string{"ServiceAccount:web", "ServiceAccount:prometheus-server", "ServiceAccount:prometheus", "ServiceAccount:tap"}; !slices.Equal(names, want) {
		t.Errorf("identityRefs = %v, want %v", names, want)
	}
	if err := loadCRDSchemas(t).validate(t, live); err != nil {
		t.Errorf("merged object breaks the CRD schema: %v", err)
	}
}

// A second writer changes the MeshTLSAuthentication between meshmon's read and its write:
// meshmon must retry on the conflict and both sets of identities must survive.
func TestApplyMergeRetriesOnConflict(t *testing.T) {
	foreign := foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil)
	f := newFakeCluster(t, foreign)
	const concurrentID = "grafana.grafana.serviceaccount.identity.linkerd.cluster.local"
	injected := 0
	updates := 0
	f.dyn.PrependReactor("update", "meshtlsauthentications", func(k8stesting.Action) (bool, runtime.Object, error) {
		updates++
		if injected == 0 {
			injected++
			cur := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").DeepCopy()
			ids, _, _ := unstructured.NestedStringSlice(cur.Object, "spec", "identities")
			_ = unstructured.SetNestedStringSlice(cur.Object, append(ids, concurrentID), "spec", "identities")
			f.put(cur)
		}
		return false, nil, nil // on to the resourceVersion-checking reactor
	})

	changes, err := Apply(context.Background(), f.clients(), build(t, func(s *Spec) { s.MTLSAuthenticationName = "scrapers" }), ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if updates != 2 {
		t.Errorf("%d update attempts, want 2 (one conflict, one retry)", updates)
	}
	ids, _, _ := unstructured.NestedStringSlice(f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").Object, "spec", "identities")
	for _, want := range []string{otherID, concurrentID, meshmonPromID, vizPromID, tapID} {
		if !slices.Contains(ids, want) {
			t.Errorf("identity %s lost; have %q", want, ids)
		}
	}
	if a := actionsOf(changes)["MeshTLSAuthentication linkerd-viz/scrapers"]; a != change.Merged {
		t.Errorf("action %s, want merged", a)
	}
}
