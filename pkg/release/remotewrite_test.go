package release

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// TestInstallKeepsRemoteWrite: an endpoint added with UpdateValues (as remote-write add
// does) survives an install with the same flags: the plan carries the entry, its note,
// its Secret mount and the cluster label, and finds the release up to date.
func TestInstallKeepsRemoteWrite(t *testing.T) {
	tg, _ := memTarget(t)
	ctx := context.Background()
	o := UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond}}
	mustApply(t, tg, testPlan(t, nil))
	ep := remotewrite.Endpoint{
		Name: "vm", URL: "http://vm.example.com:8428/api/v1/write",
		BearerToken: &remotewrite.SecretKeyRef{Secret: "vm-token", Key: "token"},
		QueryURL:    "http://vm.example.com:8428",
	}
	add := func(current map[string]any) (map[string]any, bool, error) {
		out, changed, err := remotewrite.With(current, ep)
		if err != nil || remotewrite.ClusterLabel(out) != "" {
			return out, changed, err
		}
		return remotewrite.WithClusterLabel(out, "west"), true, nil
	}
	res, err := UpdateValues(ctx, tg, add, o)
	if err != nil || res.Action != ActionUpgrade {
		t.Fatalf("add: %+v %v", res, err)
	}
	if res, err := UpdateValues(ctx, tg, add, o); err != nil || res.Action != ActionNone {
		t.Fatalf("adding again: %+v %v", res, err)
	}
	deployed, err := tg.DeployedValues()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(ctx, PlanInput{Chart: loadFixtureChart(t), Values: defaultOptions(t), KubeVersion: "v1.37.1", Deployed: deployed})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(plan.CarriedRemoteWrite, ",") != "vm" {
		t.Errorf("carried %v", plan.CarriedRemoteWrite)
	}
	for _, want := range []string{"credentials_file: /etc/meshmon/secrets/vm-token/token", "secretName: vm-token", "mountPath: /etc/meshmon/secrets/vm-token", "cluster: west"} {
		if !strings.Contains(plan.Manifest, want) {
			t.Errorf("the rendered manifest lacks %q", want)
		}
	}
	eps, err := remotewrite.Endpoints(plan.Values)
	if err != nil || len(eps) != 1 || eps[0].QueryURL != ep.QueryURL {
		t.Errorf("endpoints of the plan: %+v %v", eps, err)
	}
	if st, err := Inspect(tg, plan); err != nil || st.Action != ActionNone {
		t.Errorf("install after remote-write add: %+v %v, want up to date", st, err)
	}
	if st, _ := Inspect(tg, testPlan(t, nil)); st.Action != ActionUpgrade {
		t.Errorf("a plan without the endpoint is %s; the comparison cannot tell", st.Action)
	}
	if unknown := UnknownPaths(plan.Values, fixtureYAMLMap(t, "prometheus-chart", "values.yaml")); len(unknown) != 0 {
		t.Errorf("unknown paths in the carried values: %v", unknown)
	}
}
