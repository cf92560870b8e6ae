package policy

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

func stateOf(st Status, kind, ns, name string) ObjectStatus {
	for _, o := range st.Objects {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return o
		}
	}
	return ObjectStatus{}
}

func TestShow(t *testing.T) {
	ctx := context.Background()
	f := newFakeCluster(t)
	objs := build(t, withClientAndScrapes)

	st, err := Show(ctx, f.clients(), objs)
	if err != nil {
		t.Fatal(err)
	}
	if st.InSync || len(st.Objects) != len(objs) {
		t.Fatalf("before apply: inSync=%v, %d rows", st.InSync, len(st.Objects))
	}
	for _, o := range st.Objects {
		if o.State != StateMissing {
			t.Errorf("%s %s: %s before apply", o.Kind, o.Name, o.State)
		}
	}
	if st.MeshTLSAuthentication == nil || len(st.MeshTLSAuthentication.Missing) != 3 {
		t.Errorf("missing MeshTLSAuthentication status = %+v", st.MeshTLSAuthentication)
	}

	if _, err := Apply(ctx, f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err = Show(ctx, f.clients(), objs)
	if err != nil {
		t.Fatal(err)
	}
	if !st.InSync {
		t.Errorf("not in sync after apply: %+v", st.Objects)
	}
	ids := st.MeshTLSAuthentication
	if ids == nil || !ids.ManagedByMeshmon || !slices.Equal(ids.Identities, []string{meshmonPromID, vizPromID, tapID}) || len(ids.Missing) > 0 {
		t.Errorf("identity status = %+v", ids)
	}

	// An earlier run authorized one more client; its policy is now stale.
	stale := build(t, func(s *Spec) {
		withClientAndScrapes(s)
		s.AllowClients = append(s.AllowClients, ServiceAccountRef{Namespace: "linkerd-viz", Name: "metrics-api"})
	})
	if _, err := Apply(ctx, f.clients(), stale, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Someone edits meshmon's Server, deletes a route and adds an identity.
	srv := f.get(KindServer, "linkerd-viz", ServerName).DeepCopy()
	_ = unstructured.SetNestedField(srv.Object, int64(8080), "spec", "port")
	_ = unstructured.SetNestedField(srv.Object, "cluster-authenticated", "spec", "accessPolicy")
	f.put(srv)
	if err := f.dyn.Tracker().Delete(testGVRs()[KindHTTPRoute], "emojivoto", ProxyProbesRouteName); err != nil {
		t.Fatal(err)
	}
	m := f.get(KindMeshTLSAuthentication, "linkerd-viz", DefaultMTLSAuthenticationName).DeepCopy()
	_ = unstructured.SetNestedStringSlice(m.Object, []string{meshmonPromID, vizPromID, tapID, otherID}, "spec", "identities")
	f.put(m)

	st, err = Show(ctx, f.clients(), objs)
	if err != nil {
		t.Fatal(err)
	}
	if st.InSync {
		t.Error("in sync despite drift")
	}
	s := stateOf(st, KindServer, "linkerd-viz", ServerName)
	if s.State != StateDrifted || !slices.Contains(s.Differences, "spec.port: want 9090, got 8080") ||
		!slices.Contains(s.Differences, "spec.accessPolicy: want deny, got cluster-authenticated") {
		t.Errorf("Server status = %+v", s)
	}
	if s := stateOf(st, KindHTTPRoute, "emojivoto", ProxyProbesRouteName); s.State != StateMissing {
		t.Errorf("deleted route: %+v", s)
	}
	if s := stateOf(st, KindMeshTLSAuthentication, "linkerd-viz", DefaultMTLSAuthenticationName); s.State != StateDrifted {
		t.Errorf("MeshTLSAuthentication with an extra identity: %+v", s)
	}
	name := ClientAuthorizationName(ServiceAccountRef{Namespace: "linkerd-viz", Name: "metrics-api"})
	if s := stateOf(st, KindAuthorizationPolicy, "linkerd-viz", name); s.State != StateStale {
		t.Errorf("stale client policy: %+v", s)
	}
	if s := stateOf(st, KindAuthorizationPolicy, "linkerd-viz", AdminAuthorizationName); s.State != StatePresent {
		t.Errorf("untouched policy: %+v", s)
	}

	// Output shapes for -o json|yaml|table.
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"inSync":false`, `"state":"drifted"`, `"meshTLSAuthentication":{`, `"managedByMeshmon":true`, `"differences":[`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s: %s", key, raw)
		}
	}
	if y, err := yaml.Marshal(st); err != nil || !strings.Contains(string(y), "state: stale") {
		t.Errorf("YAML: %v\n%s", err, y)
	}
	header, rows := st.Table()
	if len(header) != 5 || len(rows) != len(st.Objects) || rows[0][3] == "" {
		t.Errorf("table %v with %d rows for %d objects", header, len(rows), len(st.Objects))
	}
}

func TestShowForeignMeshTLSAuthentication(t *testing.T) {
	ctx := context.Background()
	f := newFakeCluster(t, foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil))
	objs := build(t, func(s *Spec) { s.MTLSAuthenticationName = "scrapers" })
	if _, err := Apply(ctx, f.clients(), objs, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := Show(ctx, f.clients(), objs)
	if err != nil {
		t.Fatal(err)
	}
	row := stateOf(st, KindMeshTLSAuthentication, "linkerd-viz", "scrapers")
	ids := st.MeshTLSAuthentication
	if row.State != StateMerged || ids.ManagedByMeshmon || !slices.Equal(ids.AddedByMeshmon, []string{meshmonPromID, vizPromID, tapID}) {
		t.Errorf("row %+v, identities %+v", row, ids)
	}
	if !st.InSync {
		t.Errorf("not in sync: %+v", st.Objects)
	}

	// The owner drops tap: reported as drift, naming the identity.
	m := f.get(KindMeshTLSAuthentication, "linkerd-viz", "scrapers").DeepCopy()
	_ = unstructured.SetNestedStringSlice(m.Object, []string{otherID, meshmonPromID, vizPromID}, "spec", "identities")
	f.put(m)
	st, err = Show(ctx, f.clients(), objs)
	if err != nil {
		t.Fatal(err)
	}
	row = stateOf(st, KindMeshTLSAuthentication, "linkerd-viz", "scrapers")
	if row.State != StateDrifted || !slices.Equal(st.MeshTLSAuthentication.Missing, []string{tapID}) {
		t.Errorf("row %+v, missing %q", row, st.MeshTLSAuthentication.Missing)
	}
}

func TestShowIdentityRefsObject(t *testing.T) {
	ctx := context.Background()
	f := newFakeCluster(t, foreignMeshTLS("scrapers", map[string]any{"identityRefs": []any{map[string]any{"kind": "Namespace", "name": "linkerd-viz"}}}, nil))
	objs := build(t, func(s *Spec) { s.MTLSAuthenticationName = "scrapers" })
	st, err := Show(ctx, f.clients(), objs)
	if err != nil {
		t.Fatal(err)
	}
	ids := st.MeshTLSAuthentication
	if !ids.UsesIdentityRefs || !slices.Equal(ids.Identities, []string{vizWildcard}) || len(ids.Missing) != 0 {
		t.Errorf("identity status = %+v", ids)
	}
}

func TestShowWithoutCRDs(t *testing.T) {
	f := newFakeCluster(t)
	f.setDiscovery(false, false)
	if _, err := Show(context.Background(), f.clients(), build(t, nil)); !errors.Is(err, ErrCRDsNotInstalled) {
		t.Fatalf("err = %v", err)
	}
}

func TestServed(t *testing.T) {
	f := newFakeCluster(t)
	if err := Served(context.Background(), f.clients()); err != nil {
		t.Fatalf("all versions served: %v", err)
	}
	f.setDiscovery(true, false)
	if err := Served(context.Background(), f.clients()); err == nil || !strings.Contains(err.Error(), "upgrade Linkerd") {
		t.Fatalf("Server v1beta3 missing: err = %v, want the upgrade advice", err)
	}
	f.setDiscovery(false, false)
	if err := Served(context.Background(), f.clients()); !errors.Is(err, ErrCRDsNotInstalled) {
		t.Fatalf("nothing served: err = %v, want ErrCRDsNotInstalled", err)
	}
}

func TestResources(t *testing.T) {
	f := newFakeCluster(t)
	got, err := Resources(context.Background(), f.clients(), KindServer, KindAuthorizationPolicy)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]schema.GroupVersionResource{
		KindServer:              {Group: Group, Version: "v1beta3", Resource: "servers"},
		KindAuthorizationPolicy: {Group: Group, Version: "v1alpha1", Resource: "authorizationpolicies"},
	}
	if !maps.Equal(got, want) {
		t.Errorf("Resources = %v, want %v", got, want)
	}
	f.setDiscovery(true, false)
	if _, err := Resources(context.Background(), f.clients(), KindServer, KindAuthorizationPolicy); err == nil || !strings.Contains(err.Error(), "Server "+Group+"/v1beta3") {
		t.Errorf("Server v1beta3 not served: err = %v, want it named", err)
	}
	if _, err := Resources(context.Background(), f.clients(), KindServer); !errors.Is(err, ErrCRDsNotInstalled) {
		t.Errorf("no asked-for version served: err = %v, want ErrCRDsNotInstalled", err)
	}
}
