package linkerd

import "testing"

func TestIdentity(t *testing.T) {
	if got, want := Identity("prometheus", "linkerd-viz", "linkerd", "cluster.local"), "prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"; got != want {
		t.Errorf("Identity = %q, want %q", got, want)
	}
	if got, want := IdentityInDomain("*", "shop", IdentityDomain("mesh-system", "corp.example")), "*.shop.serviceaccount.identity.mesh-system.corp.example"; got != want {
		t.Errorf("IdentityInDomain = %q, want %q", got, want)
	}
}

func TestSplitIdentity(t *testing.T) {
	tests := []struct {
		id             string
		sa, ns, domain string
		ok             bool
	}{
		{"prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local", "prometheus", "linkerd-viz", "linkerd.cluster.local", true},
		{"*.shop.serviceaccount.identity.linkerd.cluster.local", "*", "shop", "linkerd.cluster.local", true},
		{"my.dotted.sa.shop.serviceaccount.identity.linkerd.cluster.local", "my.dotted.sa", "shop", "linkerd.cluster.local", true},
		{"prometheus.linkerd-viz.serviceaccount.identity.", "", "", "", false},
		{"shop.serviceaccount.identity.linkerd.cluster.local", "", "", "", false},
		{".shop.serviceaccount.identity.linkerd.cluster.local", "", "", "", false},
		{"prometheus..serviceaccount.identity.linkerd.cluster.local", "", "", "", false},
		{"spiffe://cluster.local/ns/shop/sa/web", "", "", "", false},
		{"*", "", "", "", false},
	}
	for _, tt := range tests {
		sa, ns, domain, ok := SplitIdentity(tt.id)
		if sa != tt.sa || ns != tt.ns || domain != tt.domain || ok != tt.ok {
			t.Errorf("SplitIdentity(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tt.id, sa, ns, domain, ok, tt.sa, tt.ns, tt.domain, tt.ok)
		}
		if ok {
			if back := IdentityInDomain(sa, ns, domain); back != tt.id {
				t.Errorf("IdentityInDomain(SplitIdentity(%q)) = %q", tt.id, back)
			}
		}
	}
}
