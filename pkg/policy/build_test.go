package policy

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

func minimalSpec() Spec {
	return Spec{
		VizNamespace:     "linkerd-viz",
		LinkerdNamespace: "linkerd",
		TrustDomain:      "cluster.local",
		ServerPodLabels: map[string]string{
			"app.kubernetes.io/component": "server",
			"app.kubernetes.io/name":      "prometheus",
			"app.kubernetes.io/instance":  "prometheus",
		},
	}
}

func fullSpec() Spec {
	s := minimalSpec()
	s.TrustDomain = "prod.example.org"
	s.LinkerdNamespace = "linkerd-cp"
	s.AllowClients = []ServiceAccountRef{
		{Namespace: "grafana", Name: "grafana"},
		{Namespace: "flagger-system", Name: "flagger"},
		{Namespace: "grafana", Name: "grafana"}, // duplicate: one policy
		{Namespace: "observability-long-namespace-name", Name: "a-very-long-service-account-name-for-dashboards"},
	}
	s.AllowFederateFrom = []string{"10.20.0.0/16", "fd00:1::/64", "10.20.0.0/16"}
	s.ExtraIdentities = []string{"*.monitoring.serviceaccount.identity.linkerd-cp.prod.example.org"}
	s.ScrapeNamespaces = []string{"emojivoto", "booksapp"}
	return s
}

func TestBuildGolden(t *testing.T) {
	schemas := loadCRDSchemas(t)
	for name, spec := range map[string]Spec{"minimal": minimalSpec(), "full": fullSpec()} {
		t.Run(name, func(t *testing.T) {
			objs, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if err := schemas.validate(t, o); err != nil {
					t.Errorf("%s %s/%s does not satisfy the %s CRD schema: %v", o.GetKind(), o.GetNamespace(), o.GetName(), o.GetAPIVersion(), err)
				}
				if e := validation.IsDNS1123Label(o.GetName()); len(e) > 0 {
					t.Errorf("%s name %q is not a DNS-1123 label: %v", o.GetKind(), o.GetName(), e)
				}
			}
			if err := checkObjects(objs); err != nil {
				t.Errorf("built objects fail meshmon's own checks: %v", err)
			}
			golden(t, "build-"+name+".yaml", objectsYAML(t, objs))
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	a := fullSpec()
	b := fullSpec()
	slices.Reverse(b.AllowClients)
	slices.Reverse(b.ScrapeNamespaces)
	b.ServerPodLabels = map[string]string{}
	for k, v := range a.ServerPodLabels {
		b.ServerPodLabels[k] = v
	}
	for i := 0; i < 5; i++ {
		oa, err := Build(a)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := Build(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(objectsYAML(t, oa), objectsYAML(t, ob)) {
			t.Fatal("Build output depends on input order")
		}
	}
}

func TestBuildContent(t *testing.T) {
	objs, err := Build(fullSpec())
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, ns, name string) *unstructured.Unstructured {
		t.Helper()
		for _, o := range objs {
			if o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name {
				return o
			}
		}
		t.Fatalf("no %s %s/%s built", kind, ns, name)
		return nil
	}

	ids, _, _ := unstructured.NestedStringSlice(find(KindMeshTLSAuthentication, "linkerd-viz", DefaultMTLSAuthenticationName).Object, "spec", "identities")
	wantIDs := []string{
		"prometheus-server.linkerd-viz.serviceaccount.identity.linkerd-cp.prod.example.org",
		"prometheus.linkerd-viz.serviceaccount.identity.linkerd-cp.prod.example.org",
		"tap.linkerd-viz.serviceaccount.identity.linkerd-cp.prod.example.org",
		"*.monitoring.serviceaccount.identity.linkerd-cp.prod.example.org",
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("identities = %q, want %q", ids, wantIDs)
	}

	nets, _, _ := unstructured.NestedSlice(find(KindNetworkAuthentication, "linkerd-viz", FederateName).Object, "spec", "networks")
	if len(nets) != 2 {
		t.Errorf("federation networks = %v, want the 2 distinct CIDRs", nets)
	}

	clients := 0
	for _, o := range objs {
		if o.GetLabels()[LabelRole] == "client" {
			clients++
		}
	}
	if clients != 3 {
		t.Errorf("%d client AuthorizationPolicies, want 3 (duplicate --allow-client collapsed)", clients)
	}

	// Scrape policies in each namespace reference the shared authentications in the viz namespace.
	for _, ns := range []string{"booksapp", "emojivoto"} {
		ap := find(KindAuthorizationPolicy, ns, ProxyMetricsRouteName)
		refs, _, _ := unstructured.NestedSlice(ap.Object, "spec", "requiredAuthenticationRefs")
		ref := refs[0].(map[string]any)
		if ref["kind"] != KindMeshTLSAuthentication || ref["namespace"] != "linkerd-viz" || ref["name"] != DefaultMTLSAuthenticationName {
			t.Errorf("%s scrape authorization refers to %v", ns, ref)
		}
		srv := find(KindServer, ns, ProxyAdminServerName)
		if port, _, _ := unstructured.NestedString(srv.Object, "spec", "port"); port != "linkerd-admin" {
			t.Errorf("%s proxy Server port = %q", ns, port)
		}
	}

	// Authorizations must precede the Server that starts denying.
	lastAuth, firstServer := -1, len(objs)
	for i, o := range objs {
		switch o.GetKind() {
		case KindServer:
			firstServer = min(firstServer, i)
		case KindAuthorizationPolicy, KindMeshTLSAuthentication, KindNetworkAuthentication:
			lastAuth = i
		}
	}
	if lastAuth > firstServer {
		t.Errorf("a Server (index %d) comes before an authorization (index %d)", firstServer, lastAuth)
	}
}

func TestBuildWithoutScrapeNamespacesHasNoKubeletNetwork(t *testing.T) {
	objs, err := Build(minimalSpec())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetName() == KubeletNetworkName || o.GetNamespace() != "linkerd-viz" {
			t.Errorf("unexpected %s %s/%s without scrape namespaces", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}
	if len(objs) != 3 {
		t.Errorf("%d objects, want MeshTLSAuthentication, AuthorizationPolicy, Server", len(objs))
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"not a CIDR", func(s *Spec) { s.AllowFederateFrom = []string{"10.0.0.0/33"} }, `"10.0.0.0/33": not a CIDR`},
		{"garbage CIDR", func(s *Spec) { s.AllowFederateFrom = []string{"office"} }, `"office": not a CIDR`},
		{"host bits set", func(s *Spec) { s.AllowFederateFrom = []string{"10.1.2.3/8"} }, "did you mean 10.0.0.0/8?"},
		{"bare address", func(s *Spec) { s.AllowFederateFrom = []string{"192.0.2.7"} }, "e.g. 192.0.2.7/32"},
		{"bare IPv6 address", func(s *Spec) { s.AllowFederateFrom = []string{"fd00::1"} }, "e.g. fd00::1/128"},
		{"viz-owned MeshTLSAuthentication", func(s *Spec) { s.MTLSAuthenticationName = "metrics-api-web" }, "belongs to linkerd-viz"},
		{"no pod labels", func(s *Spec) { s.ServerPodLabels = nil }, "pod labels are empty"},
		{"no trust domain", func(s *Spec) { s.TrustDomain = "" }, "trust domain is empty"},
		{"no linkerd namespace", func(s *Spec) { s.LinkerdNamespace = "" }, "Linkerd namespace is empty"},
		{"bad client namespace", func(s *Spec) { s.AllowClients = []ServiceAccountRef{{Namespace: "Grafana", Name: "g"}} }, `namespace "Grafana"`},
		{"bad port", func(s *Spec) { s.Port = 70000 }, "port 70000"},
		{"bad label value", func(s *Spec) { s.ServerPodLabels = map[string]string{"app": "a b"} }, `pod label app value "a b"`},
		{"bad extra identity", func(s *Spec) { s.ExtraIdentities = []string{"grafana grafana"} }, "is not a mesh identity"},
		{"bad scrape namespace", func(s *Spec) { s.ScrapeNamespaces = []string{"Apps"} }, `scrape namespace "Apps"`},
		{"colliding client names", func(s *Spec) {
			s.AllowClients = []ServiceAccountRef{{Namespace: "a-b", Name: "c"}, {Namespace: "a", Name: "b-c"}}
		}, "both map to AuthorizationPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := minimalSpec()
			tt.mutate(&s)
			_, err := Build(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestBuildReportsAllProblemsAtOnce(t *testing.T) {
	s := minimalSpec()
	s.AllowFederateFrom = []string{"bogus", "10.0.0.1/8"}
	s.TrustDomain = ""
	_, err := Build(s)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"bogus", "10.0.0.1/8", "trust domain"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestClientAuthorizationName(t *testing.T) {
	short := ClientAuthorizationName(ServiceAccountRef{Namespace: "grafana", Name: "grafana"})
	if short != "prometheus-server-client-grafana-grafana" {
		t.Errorf("short name = %q", short)
	}
	long1 := ClientAuthorizationName(ServiceAccountRef{Namespace: strings.Repeat("n", 40), Name: strings.Repeat("s", 40) + "1"})
	long2 := ClientAuthorizationName(ServiceAccountRef{Namespace: strings.Repeat("n", 40), Name: strings.Repeat("s", 40) + "2"})
	dotted := ClientAuthorizationName(ServiceAccountRef{Namespace: "ops", Name: "grafana.agent"})
	for _, n := range []string{long1, long2, dotted} {
		if e := validation.IsDNS1123Label(n); len(e) > 0 {
			t.Errorf("%q is not a DNS-1123 label: %v", n, e)
		}
		if !strings.HasPrefix(n, clientAuthorizationPrefix) {
			t.Errorf("%q lost its prefix", n)
		}
	}
	if long1 == long2 {
		t.Errorf("two long clients share the name %q", long1)
	}
	if ClientAuthorizationName(ServiceAccountRef{Namespace: "ops", Name: "grafana.agent"}) != dotted {
		t.Error("name is not stable")
	}
}

func TestParseServiceAccountRef(t *testing.T) {
	ref, err := ParseServiceAccountRef("grafana/grafana")
	if err != nil || ref != (ServiceAccountRef{Namespace: "grafana", Name: "grafana"}) {
		t.Errorf("ParseServiceAccountRef = %v, %v", ref, err)
	}
	for _, bad := range []string{"grafana", "/grafana", "grafana/", "Grafana/x", "a/b/c"} {
		if _, err := ParseServiceAccountRef(bad); err == nil {
			t.Errorf("ParseServiceAccountRef(%q) accepted", bad)
		}
	}
}

// The schema check must be able to fail: these objects break the real CRDs.
func TestSchemaValidationCatchesInvalidObjects(t *testing.T) {
	schemas := loadCRDSchemas(t)
	objs, err := Build(fullSpec())
	if err != nil {
		t.Fatal(err)
	}
	get := func(kind string) *unstructured.Unstructured {
		for _, o := range objs {
			if o.GetKind() == kind {
				return o.DeepCopy()
			}
		}
		t.Fatalf("no %s", kind)
		return nil
	}
	tests := []struct {
		name   string
		obj    func() *unstructured.Unstructured
		reason string
	}{
		{"Server with podSelector and externalWorkloadSelector", func() *unstructured.Unstructured {
			o := get(KindServer)
			_ = unstructured.SetNestedMap(o.Object, map[string]any{}, "spec", "externalWorkloadSelector")
			return o
		}, "oneOf"},
		{"Server without port", func() *unstructured.Unstructured {
			o := get(KindServer)
			unstructured.RemoveNestedField(o.Object, "spec", "port")
			return o
		}, "port"},
		{"MeshTLSAuthentication with identities and identityRefs", func() *unstructured.Unstructured {
			o := get(KindMeshTLSAuthentication)
			_ = unstructured.SetNestedSlice(o.Object, []any{map[string]any{"kind": "ServiceAccount", "name": "x"}}, "spec", "identityRefs")
			return o
		}, "oneOf"},
		{"MeshTLSAuthentication with no identities", func() *unstructured.Unstructured {
			o := get(KindMeshTLSAuthentication)
			_ = unstructured.SetNestedSlice(o.Object, []any{}, "spec", "identities")
			return o
		}, "minItems"},
		{"AuthorizationPolicy with a misspelt field the API server would prune", func() *unstructured.Unstructured {
			o := get(KindAuthorizationPolicy)
			_ = unstructured.SetNestedField(o.Object, []any{}, "spec", "requiredAuthenticationRef")
			return o
		}, "additional properties 'requiredAuthenticationRef' not allowed"},
		{"AuthorizationPolicy target kind with a slash", func() *unstructured.Unstructured {
			o := get(KindAuthorizationPolicy)
			_ = unstructured.SetNestedField(o.Object, "policy/Server", "spec", "targetRef", "kind")
			return o
		}, "does not match pattern"},
		{"HTTPRoute path type unknown", func() *unstructured.Unstructured {
			o := get(KindHTTPRoute)
			rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
			rules[0].(map[string]any)["matches"].([]any)[0].(map[string]any)["path"].(map[string]any)["type"] = "Glob"
			_ = unstructured.SetNestedSlice(o.Object, rules, "spec", "rules")
			return o
		}, "must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := schemas.validate(t, tt.obj())
			if err == nil {
				t.Fatal("the CRD schema accepted an invalid object")
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
}

// The CRDs leave proxyProtocol and accessPolicy as free strings (Linkerd's admission webhook
// checks them), so meshmon checks them itself before applying.
func TestInvalidProxyProtocolCaughtBeforeApply(t *testing.T) {
	schemas := loadCRDSchemas(t)
	objs, err := Build(minimalSpec())
	if err != nil {
		t.Fatal(err)
	}
	var srv *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == KindServer {
			srv = o.DeepCopy()
		}
	}
	_ = unstructured.SetNestedField(srv.Object, "HTTP/3", "spec", "proxyProtocol")
	_ = unstructured.SetNestedField(srv.Object, "allow-all", "spec", "accessPolicy")
	if err := schemas.validate(t, srv); err != nil {
		t.Fatalf("the CRD schema now checks these fields (%v); checkObjects may be simplified", err)
	}
	err = checkObjects([]*unstructured.Unstructured{srv})
	if err == nil || !strings.Contains(err.Error(), `proxyProtocol "HTTP/3"`) || !strings.Contains(err.Error(), `accessPolicy "allow-all"`) {
		t.Fatalf("checkObjects = %v, want both fields rejected", err)
	}
}
