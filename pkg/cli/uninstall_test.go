package cli

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/release"
)

func TestDecideDeletion(t *testing.T) {
	for _, tc := range []struct {
		yes, terminal bool
		want          deletion
	}{
		{yes: true, terminal: false, want: deleteConfirmed},
		{yes: true, terminal: true, want: deleteConfirmed},
		{yes: false, terminal: true, want: deleteAsk},
		{yes: false, terminal: false, want: deleteRefused},
	} {
		if got := decideDeletion(tc.yes, tc.terminal); got != tc.want {
			t.Errorf("decideDeletion(yes=%v, terminal=%v) = %v, want %v", tc.yes, tc.terminal, got, tc.want)
		}
	}
}

func TestAskDeletion(t *testing.T) {
	for answer, ok := range map[string]bool{
		"y\n": true, "YES\n": true, "  yes\t\n": true, "yes": true,
		"\n": false, "n\n": false, "no\n": false, "": false, "yess\n": false,
	} {
		var prompt bytes.Buffer
		err := askDeletion(strings.NewReader(answer), &prompt)
		if (err == nil) != ok {
			t.Errorf("answer %q: err %v, want confirmed=%v", answer, err, ok)
		}
		if !strings.Contains(prompt.String(), "[y/N]") {
			t.Errorf("no prompt: %q", prompt.String())
		}
	}
}

// A pipe is not a terminal: without --yes nothing is asked and the uninstall is refused,
// after the claims are listed.
func TestConfirmDeleteDataWithoutTerminal(t *testing.T) {
	vols := []release.Volume{{Claim: "prometheus-server", Namespace: "linkerd-viz", Requested: "20Gi"}}
	for _, yes := range []bool{false, true} {
		var out, errw bytes.Buffer
		inv := newInvocation(KubectlHost, genericiooptions.IOStreams{In: strings.NewReader("y\n"), Out: &out, ErrOut: &errw}, func(string) string { return "" })
		o := &uninstallOptions{inv: inv, deleteData: true, yes: yes}
		err := o.confirmDeleteData(vols)
		if !strings.Contains(out.String(), "PVC linkerd-viz/prometheus-server") {
			t.Errorf("yes=%v: the claim is not listed:\n%s", yes, out.String())
		}
		switch {
		case yes && err != nil:
			t.Errorf("--yes: %v", err)
		case !yes && (err == nil || exitCode(err) != ExitUsage || !strings.Contains(err.Error(), "pass --yes")):
			t.Errorf("no terminal, no --yes: err %v (exit %d), want a refusal naming --yes", err, exitCode(err))
		}
		if errw.Len() != 0 {
			t.Errorf("yes=%v: asked although nobody can answer: %q", yes, errw.String())
		}
	}
}
