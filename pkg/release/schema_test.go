package release

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v4/pkg/chart/v2/loader"

	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/helmvalues"
)

// compileChartSchema compiles the chart's values.schema.json with the library Helm uses.
// Its "$schema" is "http://json-schema.org/schema#", the moving "latest draft" URL, which
// the library maps to draft 2020-12 without fetching anything.
func compileChartSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(fixtures.Read(t, "prometheus-chart", "values.schema.json")))
	if err != nil {
		t.Fatalf("parsing the chart schema: %v", err)
	}
	if got := doc.(map[string]any)["$schema"]; got != "http://json-schema.org/schema#" {
		t.Fatalf("the chart schema's $schema changed to %v; recheck which draft applies", got)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///values.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("file:///values.schema.json")
	if err != nil {
		t.Fatalf("compiling the chart schema: %v", err)
	}
	if sch.DraftVersion != 2020 {
		t.Fatalf("the chart schema compiled as draft %d, expected 2020-12", sch.DraftVersion)
	}
	return sch
}

// jsonValues gives values the types a JSON decoder produces, which the validator requires.
func jsonValues(t *testing.T, v map[string]any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestValuesMatchChartSchema(t *testing.T) {
	sch := compileChartSchema(t)
	for name, o := range map[string]ValuesOptions{"default": defaultOptions(t), "full": fullOptions()} {
		t.Run(name, func(t *testing.T) {
			v := mustValues(t, o)
			if err := sch.Validate(jsonValues(t, v)); err != nil {
				t.Errorf("meshmon's values violate the chart schema: %v", err)
			}
			// Helm validates the values coalesced with the chart defaults; do it its way too.
			effectiveValues(t, v)
		})
	}
}

// TestChartSchemaCatchesBadValues proves the schema check above can fail.
func TestChartSchemaCatchesBadValues(t *testing.T) {
	sch := compileChartSchema(t)
	for name, overlay := range map[string]map[string]any{
		"port as string":       {"server": map[string]any{"service": map[string]any{"servicePort": "9090"}}},
		"size as number":       {"server": map[string]any{"persistentVolume": map[string]any{"size": 20}}},
		"access modes scalar":  {"server": map[string]any{"persistentVolume": map[string]any{"accessModes": "ReadWriteOnce"}}},
		"job name not string":  {"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{map[string]any{"job_name": 1}}}}},
		"subchart switch text": {"alertmanager": map[string]any{"enabled": "false"}},
	} {
		t.Run(name, func(t *testing.T) {
			v := helmvalues.Merge(mustValues(t, defaultOptions(t)), overlay)
			if err := sch.Validate(jsonValues(t, v)); err == nil {
				t.Error("the schema accepted it")
			}
		})
	}
}

// leafPaths lists the paths of values' leaves, a leaf being anything but a non-empty map.
func leafPaths(prefix []string, v map[string]any, out *[][]string) {
	for k, val := range v {
		keys := append(slices.Clone(prefix), k)
		if m, ok := val.(map[string]any); ok && len(m) > 0 {
			leafPaths(keys, m, out)
			continue
		}
		*out = append(*out, keys)
	}
}

// hasPath tells whether defaults contain the path, even with a null value.
func hasPath(defaults map[string]any, keys []string) bool {
	cur := defaults
	for i, k := range keys {
		v, ok := cur[k]
		if !ok {
			return false
		}
		if i == len(keys)-1 {
			return true
		}
		if cur, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// TestValuesKeysExistInChart checks every path meshmon sets against the chart's defaults:
// either the path exists there or it lies under one of the few known pass-through keys.
func TestValuesKeysExistInChart(t *testing.T) {
	defaults := fixtureYAMLMap(t, "prometheus-chart", "values.yaml")
	// legitimatelyNew are the paths meshmon sets that chart 29's values.yaml does not list, each
	// under a map the chart passes through or documents in a comment.
	legitimatelyNew := []string{
		`server.podAnnotations."linkerd.io/inject"`,                     // podAnnotations: {}
		`server.persistentVolume.annotations."helm.sh/resource-policy"`, // annotations: {}
		"server.persistentVolume.storageClass",                          // commented out: # storageClass: "-"
		"server.global.external_labels",                                 // server.global is Prometheus' global, verbatim
		`serverFiles."prometheus.yml".scrape_configs`,                   // cm.yaml reads $value.scrape_configs
	}
	for name, o := range map[string]ValuesOptions{"default": defaultOptions(t), "full": fullOptions()} {
		t.Run(name, func(t *testing.T) {
			v := mustValues(t, o)
			if unknown := UnknownPaths(v, defaults); len(unknown) > 0 {
				t.Errorf("meshmon sets keys chart 29 does not know: %v", unknown)
			}
			var leaves [][]string
			leafPaths(nil, v, &leaves)
		leaf:
			for _, keys := range leaves {
				for i := 1; i <= len(keys); i++ {
					if slices.Contains(legitimatelyNew, pathString(keys[:i]...)) {
						if !hasPath(defaults, keys[:i-1]) {
							t.Errorf("%s: its parent is not in the chart defaults", pathString(keys...))
						}
						continue leaf
					}
				}
				if !hasPath(defaults, keys) {
					t.Errorf("%s is not in the chart defaults and not under a known pass-through key", pathString(keys...))
				}
			}
		})
	}
}

// TestUnknownPaths shows the key check catches the classic traps.
func TestUnknownPaths(t *testing.T) {
	defaults := fixtureYAMLMap(t, "prometheus-chart", "values.yaml")
	tests := []struct {
		name    string
		overlay string
		want    []string
	}{
		{"scrape_configs under server (the seed trap)", "server: {scrape_configs: [{job_name: x}]}", []string{"server.scrape_configs"}},
		{"prometheus.yml under server", "server: {prometheus.yml: {scrape_configs: []}}", []string{`server."prometheus.yml"`}},
		{"typo in a nested key", "server: {persistentVolume: {sise: 50Gi}}", []string{"server.persistentVolume.sise"}},
		{"servicePort one level too high", "server: {servicePort: 9090}", []string{"server.servicePort"}},
		{"unknown top-level key", "prometheus: {retention: 30d}", []string{"prometheus"}},
		{"free-form annotations", "server: {podAnnotations: {team: sre}, persistentVolume: {annotations: {backup: daily}}}", nil},
		{"Prometheus global passes through", "server: {global: {query_log_file: /data/q.log}}", nil},
		{"extra files in serverFiles", "serverFiles: {extra_rules.yml: {groups: []}}", nil},
		{"documented but commented out", "server: {persistentVolume: {volumeName: pv-1, selector: {matchLabels: {a: b}}}}", nil},
		{"subchart values", "alertmanager: {image: {tag: v1}}", nil},
		{"meshmon's notes", "meshmon: {remoteWrite: [{name: vm}]}", nil},
		{"credential mounts", "server: {extraSecretMounts: [{name: meshmon-secret-a, secretName: a, mountPath: /etc/meshmon/secrets/a}]}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			overlay, err := loader.LoadValues(strings.NewReader(tt.overlay))
			if err != nil {
				t.Fatal(err)
			}
			got := UnknownPaths(helmvalues.Merge(mustValues(t, defaultOptions(t)), overlay), defaults)
			if !slices.Equal(got, tt.want) {
				t.Errorf("UnknownPaths = %v, want %v", got, tt.want)
			}
		})
	}
}
