//go:build e2e

package release

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"

	"github.com/meshmon/meshmon/e2e/framework"
)

// TestPendingUpgradeRepair crafts the record a killed `helm upgrade` leaves, with
// Helm's own storage, and goes through the Linkerd extension binary.
func TestPendingUpgradeRepair(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-pending-upgrade"
	createNamespace(t, kc, ns)
	chart := framework.TestChart(t, "prometheus")

	r := env.MustMeshmon(t, "linkerd", "install", "--skip-check", "-n", ns, "--chart", chart)
	if !strings.Contains(r.Stdout, "Installed release prometheus (revision 1") {
		t.Fatalf("linkerd meshmon install:\n%s", r.Stdout)
	}
	store := helmStore(kc, ns)
	last, err := store.Last("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	stuck := *last.(*rel.Release)
	info := *stuck.Info
	stuck.Info, stuck.Version = &info, 2
	stuck.Info.Status, stuck.Info.Description = rcommon.StatusPendingUpgrade, "Preparing upgrade"
	stuck.Info.LastDeployed = time.Now().Add(-10 * time.Minute)
	if err := store.Create(&stuck); err != nil {
		t.Fatal(err)
	}

	refused := env.Meshmon(t, "linkerd", "install", "--skip-check", "-n", ns, "--chart", chart)
	if refused.Code != 1 {
		t.Fatalf("install over a pending upgrade: exit %d\n%s", refused.Code, refused.Stderr)
	}
	for _, want := range []string{
		"release prometheus in namespace mm-pending-upgrade is stuck in pending-upgrade at revision 2",
		"--repair", "roll back to revision 1 (the last deployed one)",
	} {
		if !strings.Contains(refused.Stderr, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, refused.Stderr)
		}
	}
	// How long ago, rounded to the second: ten minutes and the seconds the install took.
	if !regexp.MustCompile(`\(10m\d+s ago\)`).MatchString(refused.Stderr) {
		t.Errorf("the refusal does not say how long ago the upgrade stopped (10m…s):\n%s", refused.Stderr)
	}
	if revs := revisions(t, kc, ns, "prometheus"); !slices.Equal(revs, []string{"v1=deployed", "v2=pending-upgrade"}) {
		t.Errorf("the refused install wrote: %v", revs)
	}

	dry := env.MustMeshmon(t, "linkerd", "install", "--skip-check", "-n", ns, "--chart", chart, "--dry-run")
	if !strings.Contains(dry.Stdout, "# Release prometheus in namespace mm-pending-upgrade: blocked: ") {
		t.Errorf("the dry run does not say the release is blocked:\n%.400s", dry.Stdout)
	}

	fixed := env.MustMeshmon(t, "linkerd", "install", "--skip-check", "-n", ns, "--chart", chart, "--repair")
	for _, want := range []string{
		"Repaired: release prometheus was stuck in pending-upgrade at revision 2; marked it failed and rolled back to revision 1 (now revision 3).",
		"Release prometheus is already up to date (revision 3, chart prometheus 29.27.0); nothing changed.",
	} {
		if !strings.Contains(fixed.Stdout, want) {
			t.Errorf("--repair output lacks %q:\n%s", want, fixed.Stdout)
		}
	}
	if revs := revisions(t, kc, ns, "prometheus"); !slices.Equal(revs, []string{"v1=superseded", "v2=failed", "v3=deployed"}) {
		t.Errorf("after --repair: %v", revs)
	}
	env.MustMeshmon(t, "linkerd", "uninstall", "-n", ns, "--delete-data", "--yes")
}

// A pending install with nothing deployed before is uninstalled by --repair (keeping
// the volume), then installed for real.
func TestPendingInstallRepair(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-pending-install"
	createNamespace(t, kc, ns)
	chart := framework.TestChart(t, "prometheus")

	ch, err := loader.Load(chart)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := helmStore(kc, ns).Create(&rel.Release{
		Name: "prometheus", Namespace: ns, Version: 1, Chart: ch,
		Info: &rel.Info{Status: rcommon.StatusPendingInstall, FirstDeployed: now, LastDeployed: now, Description: "Initial install underway"},
	}); err != nil {
		t.Fatal(err)
	}
	expectFailure(t, env, 1, []string{"stuck in pending-install at revision 1", "uninstall the unfinished release (keeping its data volume) and install it again"},
		"install", "--skip-check", "-n", ns, "--chart", chart)

	fixed := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "-n", ns, "--chart", chart, "--repair")
	for _, want := range []string{
		"Repaired: release prometheus was stuck in pending-install at revision 1; uninstalled the unfinished release (its data volume is kept).",
		"Installed release prometheus (revision 1, chart prometheus 29.27.0) in namespace mm-pending-install.",
	} {
		if !strings.Contains(fixed.Stdout, want) {
			t.Errorf("--repair output lacks %q:\n%s", want, fixed.Stdout)
		}
	}
	if revs := revisions(t, kc, ns, "prometheus"); !slices.Equal(revs, []string{"v1=deployed"}) {
		t.Errorf("after --repair: %v", revs)
	}
	env.MustMeshmon(t, "kubectl", "uninstall", "-n", ns, "--delete-data", "--yes")
}
