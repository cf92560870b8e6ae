package change

import (
	"bytes"
	"testing"
)

func TestWriteText(t *testing.T) {
	for _, tc := range []struct {
		name       string
		changes    Changes
		serverSide bool
		want       string
	}{
		{
			// tabwriter aligns a column only over consecutive lines that have it.
			name: "policy apply",
			changes: Changes{
				{Kind: "Server", Namespace: "linkerd-viz", Name: "prometheus-server-admin", Action: Created},
				{Kind: "MeshTLSAuthentication", Namespace: "linkerd-viz", Name: "scrapers", Action: Merged, Identities: []string{"a", "b"}},
			},
			serverSide: true,
			want: "server/prometheus-server-admin -n linkerd-viz  created\n" +
				"meshtlsauthentication/scrapers -n linkerd-viz  merged  [a, b]\n",
		},
		{
			name:       "server dry run",
			changes:    Changes{{Kind: "Server", Namespace: "ns", Name: "s", Action: Configured, DryRun: true}},
			serverSide: true,
			want:       "server/s -n ns  configured (server dry run)\n",
		},
		{
			name: "viz plan with a patch; a namespace is not named with -n",
			changes: Changes{
				{Kind: "Namespace", Name: "linkerd-viz", Action: Configured, Detail: "annotation x", DryRun: true},
				{Kind: "Deployment", Namespace: "linkerd-viz", Name: "metrics-api", Action: Configured, Detail: "flag", Patch: "[{\"op\":\"replace\"}]\n", DryRun: true},
			},
			want: "namespace/linkerd-viz                  configured (dry run)  annotation x\n" +
				"deployment/metrics-api -n linkerd-viz  configured (dry run)  flag\n" +
				"    [{\"op\":\"replace\"}]\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, tc.changes, tc.serverSide); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got:\n%q\nwant:\n%q", b.String(), tc.want)
			}
		})
	}
}
