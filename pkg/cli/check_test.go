package cli

import (
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// `linkerd check --proxy -n X` forwards --namespace=X meaning the data
// plane; kubectl meshmon's -n always names Prometheus' namespace.
func TestCheckNamespaceMeaning(t *testing.T) {
	for _, tc := range []struct {
		host                 Host
		proxy                bool
		ns                   string
		wantProm, wantDataNS string
	}{
		{LinkerdHost, true, "shop", "linkerd-viz", "shop"},
		{LinkerdHost, false, "monitoring", "monitoring", ""},
		{KubectlHost, true, "monitoring", "monitoring", ""},
		{LinkerdHost, true, "", "linkerd-viz", ""},
	} {
		inv := newInvocation(tc.host, genericiooptions.NewTestIOStreamsDiscard(), func(string) string { return "" })
		if tc.ns != "" {
			inv.kubeFlags.Namespace = &tc.ns
		}
		o := &checkOptions{inv: inv, releaseName: defaults.ReleaseName, proxy: tc.proxy}
		got := o.checksOptions()
		if got.Namespace != tc.wantProm || got.DataPlaneNamespace != tc.wantDataNS {
			t.Errorf("%s --proxy=%v -n %q: Prometheus namespace %q, data plane %q; want %q, %q",
				tc.host.Binary, tc.proxy, tc.ns, got.Namespace, got.DataPlaneNamespace, tc.wantProm, tc.wantDataNS)
		}
	}
}
