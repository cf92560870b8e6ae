package cli

import (
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

func TestStatusTableShowsRemoteWriteWithoutCredentials(t *testing.T) {
	basic := "store-basic"
	s := &release.Status{Release: "prometheus", Namespace: "linkerd-viz", RemoteWrite: []remotewrite.Endpoint{
		{Name: "vm", URL: "https://vm.example.com/api/v1/write", BearerToken: &remotewrite.SecretKeyRef{Secret: "vm-token", Key: "token"},
			Headers: map[string]string{remotewrite.TenantHeader: "team-a"}, QueryURL: "https://vm.example.com"},
		{Name: "mimir", URL: "https://mimir.example.com/api/v1/push", BasicAuth: &basic},
	}}
	var b strings.Builder
	if err := printStatusTable(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"REMOTE WRITE  vm https://vm.example.com/api/v1/write (auth bearer (vm-token), tenant team-a, query https://vm.example.com)",
		"mimir https://mimir.example.com/api/v1/push (auth basic (store-basic))",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "REMOTE WRITE") != 1 {
		t.Errorf("want one REMOTE WRITE heading:\n%s", out)
	}
}
