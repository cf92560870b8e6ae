package install

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

// Preflight asks for what the steps that will run need, as their packages state it.
func TestMeshAccessGathersTheStepsRequiredAccess(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps meshSteps
		want  []kube.Access
	}{
		{"nothing after the release", meshSteps{}, nil},
		{"viz", meshSteps{viz: true}, viz.RequiredAccess("viz", "l5d", false)},
		{"viz with heartbeat", meshSteps{viz: true, heartbeat: true}, viz.RequiredAccess("viz", "l5d", true)},
		{"policy", meshSteps{policy: true}, policy.RequiredAccess("viz")},
		{"both", meshSteps{viz: true, policy: true}, append(viz.RequiredAccess("viz", "l5d", false), policy.RequiredAccess("viz")...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := meshAccess("viz", "l5d", tc.steps)
			if !slices.EqualFunc(got, tc.want, func(a, b kube.Access) bool {
				return a.Group == b.Group && a.Resource == b.Resource && a.Namespace == b.Namespace && slices.Equal(a.Verbs, b.Verbs)
			}) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	// The heartbeat is patched in the control plane's namespace, not viz's.
	hb := viz.RequiredAccess("viz", "l5d", true)
	if last := hb[len(hb)-1]; last.Resource != "cronjobs" || last.Namespace != "l5d" {
		t.Errorf("heartbeat access %+v, want cronjobs in l5d", last)
	}
}

// `check --pre` shows preflight as checks: failures fail, warnings warn, notes are details.
func TestPreflightCategory(t *testing.T) {
	cat := preflightCategory([]release.PreflightResult{
		{Description: "passes"},
		{Description: "has a note", Note: "trust domain cluster.local"},
		{Description: "warns", Err: errors.New("careful"), Warning: true},
		{Description: "fails", Err: errors.New("broken")},
	})
	res, err := healthcheck.Run(context.Background(), []healthcheck.Category{cat}, healthcheck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cat.Name != "meshmon-pre-install" || len(res.Categories) != 1 {
		t.Fatalf("category %q, %d results", cat.Name, len(res.Categories))
	}
	want := []healthcheck.Status{healthcheck.StatusSuccess, healthcheck.StatusSuccess, healthcheck.StatusWarning, healthcheck.StatusError}
	for i, r := range res.Categories[0].Checks {
		if i == 1 && r.Detail == "" {
			t.Error("the note is not shown as the check's detail")
		}
		if r.Status != want[i] {
			t.Errorf("%s: status %v, want %v", r.Description, r.Status, want[i])
		}
	}
	if res.Success() {
		t.Error("a failed preflight check reads as success")
	}
}
