package install

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/defaults"
)

func TestUninstallRemovesTheRelease(t *testing.T) {
	te := newTestEnv(t)
	te.deployed(t, defaults.ReleaseName)
	err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: defaults.ReleaseName, Timeout: time.Minute, SkipViz: true, SkipPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Uninstalled release prometheus (revision 1) from namespace linkerd-viz.\n"; te.out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", te.out, want)
	}
	if _, err := te.helm.Releases.Deployed(defaults.ReleaseName); err == nil {
		t.Error("the release is still deployed")
	}
}

func TestUninstallOfNothingSaysWhereItLooked(t *testing.T) {
	te := newTestEnv(t)
	err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: "other", Timeout: time.Minute, SkipViz: true, SkipPolicy: true})
	if err == nil || !strings.Contains(err.Error(), "release other is not installed in namespace linkerd-viz and left no data volume there") {
		t.Fatalf("error %v, want the release and namespace named", err)
	}
	if te.out.Len() != 0 {
		t.Errorf("report %q, want none", te.out)
	}
}

// viz and the policy go before the release, so nothing points at, or protects, a
// Prometheus that is gone; with nothing of meshmon's in either, each step says so and goes on.
func TestUninstallStepOrder(t *testing.T) {
	te := newTestEnv(t, linkerdObjects()...)
	te.deployed(t, defaults.ReleaseName)
	if err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: defaults.ReleaseName, Timeout: time.Minute}); err != nil {
		t.Fatalf("%v\n%s", err, te.errOut)
	}
	progress := te.errOut.String()
	var at []int
	for _, line := range []string{
		"Restoring linkerd-viz",
		"linkerd-viz had nothing of meshmon's to restore",
		"Deleting the Linkerd authorization policy",
		"authorization policy deleted",
		"Uninstalling release prometheus from namespace linkerd-viz",
		"release prometheus removed",
	} {
		i := strings.Index(progress, line)
		if i < 0 {
			t.Fatalf("progress lacks %q:\n%s", line, progress)
		}
		at = append(at, i)
	}
	for i := 1; i < len(at); i++ {
		if at[i] < at[i-1] {
			t.Errorf("steps out of order:\n%s", progress)
		}
	}
}

// A step that fails stops the pipeline before the release is touched.
func TestUninstallStopsBeforeTheReleaseWhenThePolicyCannotBeRead(t *testing.T) {
	te := newTestEnv(t) // no linkerd-config: the policy's trust domain is unknown
	te.deployed(t, defaults.ReleaseName)
	err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: defaults.ReleaseName, Timeout: time.Minute, SkipViz: true})
	if err == nil || !strings.Contains(err.Error(), "nothing was uninstalled; pass --skip-policy") {
		t.Fatalf("error %v, want the policy step's explanation", err)
	}
	if _, err := te.helm.Releases.Deployed(defaults.ReleaseName); err != nil {
		t.Errorf("the release was removed although the policy step failed: %v", err)
	}
}

// A permission uninstall lacks stops it before the first change, naming the permission.
func TestUninstallAsksForItsPermissionsFirst(t *testing.T) {
	te := newTestEnv(t, linkerdObjects()...)
	te.deployed(t, defaults.ReleaseName)
	te.denied["delete secrets"] = true
	err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: defaults.ReleaseName, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "uninstall needs permissions you do not have (nothing was changed)") ||
		!strings.Contains(err.Error(), "you may not delete secrets (Helm marks the release uninstalled and deletes its records); ask a cluster administrator") {
		t.Fatalf("error %v, want the missing permission named", err)
	}
	if strings.Contains(te.errOut.String(), "Restoring linkerd-viz") {
		t.Errorf("uninstall started although a permission is missing:\n%s", te.errOut)
	}
	if _, err := te.helm.Releases.Deployed(defaults.ReleaseName); err != nil {
		t.Errorf("the release was removed although a permission is missing: %v", err)
	}
	// --skip-policy and --skip-viz need less: the policy's deletes are not asked for then.
	te.denied = map[string]bool{"delete servers": true, "patch namespaces": true}
	if err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: defaults.ReleaseName, Timeout: time.Minute, SkipViz: true, SkipPolicy: true}); err != nil {
		t.Fatal(err)
	}
}

// The policy objects are per namespace: an uninstall of a release that is not installed
// there leaves them to the release that is, and says how to remove them.
func TestUninstallOfAnAbsentReleaseLeavesTheNamespacePolicy(t *testing.T) {
	te := newTestEnv(t, linkerdObjects()...)
	te.deployed(t, defaults.ReleaseName)
	te.kube.ClearActions()
	err := Uninstall(context.Background(), te.Env, UninstallOptions{ReleaseName: "other", Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "release other is not installed in namespace linkerd-viz") {
		t.Fatalf("error %v, want the absent release named", err)
	}
	if want := "The authorization policy in namespace linkerd-viz was left as it is: release other is not installed there (`kubectl meshmon policy delete` removes it).\n"; !strings.Contains(te.out.String(), want) {
		t.Errorf("report:\n%s\nlacks:\n%s", te.out, want)
	}
	if strings.Contains(te.errOut.String(), "authorization policy deleted") {
		t.Errorf("the policy step ran for an absent release:\n%s", te.errOut)
	}
	if _, err := te.helm.Releases.Deployed(defaults.ReleaseName); err != nil {
		t.Errorf("release %s was touched: %v", defaults.ReleaseName, err)
	}
}
