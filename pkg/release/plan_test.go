package release

import (
	"context"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/helmvalues"
)

func TestPlanMergesUserValuesAndWarns(t *testing.T) {
	user := map[string]any{
		"server": map[string]any{
			"service":   map[string]any{"servicePort": 80},
			"retention": "90d",
		},
	}
	p, err := NewPlan(context.Background(), PlanInput{Chart: loadFixtureChart(t), Values: defaultOptions(t), UserValues: user})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := helmvalues.Lookup(p.Values, "server", "retention"); r != "90d" {
		t.Errorf("the user's retention did not win: %v", r)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Path != "server.service.servicePort" {
		t.Fatalf("warnings = %v, want one about the Service port", p.Warnings)
	}
	objs, err := ManifestObjects(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GVK.Kind == "Service" && !strings.Contains(p.Manifest, "port: 80\n") {
			t.Error("the rendered Service does not carry the user's port")
		}
	}
	if len(objs) != 7 {
		t.Errorf("%d objects rendered", len(objs))
	}
}

func TestPlanRejectsWhatTheChartRejects(t *testing.T) {
	_, err := NewPlan(context.Background(), PlanInput{Chart: loadFixtureChart(t), Values: defaultOptions(t),
		UserValues: map[string]any{"server": map[string]any{"statefulSet": "yes"}}})
	if err == nil || !strings.Contains(err.Error(), "check your -f/--set overrides") {
		t.Errorf("an override the templates cannot render: %v", err)
	}
	o := defaultOptions(t)
	o.StorageSize = "20gb"
	if _, err := NewPlan(context.Background(), PlanInput{Chart: loadFixtureChart(t), Values: o}); err == nil || !strings.Contains(err.Error(), "20Gi") {
		t.Errorf("an invalid size: %v", err)
	}
}

func TestValuesHeaderIsAComment(t *testing.T) {
	h, err := ValuesHeader(mustValues(t, defaultOptions(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(h, "\n"), "\n") {
		if !strings.HasPrefix(line, "#   ") {
			t.Fatalf("header line %q is not a comment", line)
		}
	}
	if !strings.Contains(h, "#   scrapeConfigs: null\n") {
		t.Errorf("the header lost the explicit null:\n%s", h)
	}
}
