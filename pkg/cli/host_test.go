package cli

import "testing"

func TestHostForPicksTheHostByInvokedName(t *testing.T) {
	for argv0, want := range map[string]Host{
		"kubectl-meshmon":                   KubectlHost,
		"/root/.krew/bin/kubectl-meshmon":   KubectlHost,
		"/root/.krew/bin/linkerd-meshmon":   LinkerdHost,
		"linkerd-meshmon":                   LinkerdHost,
		`C:\krew\bin\linkerd-meshmon.exe`:   LinkerdHost,
		`C:\krew\bin\LINKERD-MESHMON.EXE`:   LinkerdHost,
		"./bin/some-other-name":             KubectlHost,
		"/usr/local/bin/linkerd-meshmon-v2": KubectlHost,
	} {
		if got := HostFor(argv0); got != want {
			t.Errorf("HostFor(%q) = %s, want %s", argv0, got.Binary, want.Binary)
		}
	}
}
