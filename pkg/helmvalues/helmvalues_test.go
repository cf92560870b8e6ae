package helmvalues

import (
	"encoding/json"
	"reflect"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

// roundTrip copies v through JSON, so a later comparison cannot share maps with v.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMerge(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"scrapeConfigs": nil,
			"server": map[string]any{
				"retention":      "15d",
				"podAnnotations": map[string]any{"linkerd.io/inject": "enabled"},
				"remoteWrite":    []any{map[string]any{"url": "http://a"}},
				"global":         map[string]any{"scrape_interval": "10s", "scrape_timeout": "10s"},
			},
		}
	}
	type want struct {
		keys []string
		v    any
	}
	tests := []struct {
		name     string
		overlays []map[string]any
		want     []want
	}{
		{"scalar replaces", []map[string]any{{"server": map[string]any{"retention": "30d"}}}, []want{{[]string{"server", "retention"}, "30d"}}},
		{"list replaces, not appends", []map[string]any{{"server": map[string]any{"remoteWrite": []any{map[string]any{"url": "http://b"}}}}},
			[]want{{[]string{"server", "remoteWrite"}, []any{map[string]any{"url": "http://b"}}}}},
		{"nested maps merge", []map[string]any{{"server": map[string]any{"podAnnotations": map[string]any{"team": "sre"}, "global": map[string]any{"scrape_interval": "30s"}}}},
			[]want{
				{[]string{"server", "podAnnotations", "linkerd.io/inject"}, "enabled"},
				{[]string{"server", "podAnnotations", "team"}, "sre"},
				{[]string{"server", "global", "scrape_interval"}, "30s"},
				{[]string{"server", "global", "scrape_timeout"}, "10s"},
			}},
		{"map over null", []map[string]any{{"scrapeConfigs": map[string]any{"prometheus": map[string]any{"enabled": true}}}},
			[]want{{[]string{"scrapeConfigs", "prometheus", "enabled"}, true}}},
		{"scalar over map", []map[string]any{{"server": map[string]any{"global": "x"}}}, []want{{[]string{"server", "global"}, "x"}}},
		{"later overlay wins", []map[string]any{{"server": map[string]any{"retention": "30d"}}, {"server": map[string]any{"retention": "60d"}}},
			[]want{{[]string{"server", "retention"}, "60d"}}},
		{"null replaces and stays null", []map[string]any{{"server": map[string]any{"retention": nil}}}, nil},
		{"no overlay keeps base and its null", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base()
			var overlayCopies []any
			for _, o := range tt.overlays {
				overlayCopies = append(overlayCopies, roundTrip(t, o))
			}
			got := Merge(b, tt.overlays...)
			for _, w := range tt.want {
				if v, _ := Lookup(got, w.keys...); !reflect.DeepEqual(v, w.v) {
					t.Errorf("%v = %v, want %v", w.keys, v, w.v)
				}
			}
			if !reflect.DeepEqual(b, base()) {
				t.Error("Merge modified base")
			}
			for i, o := range tt.overlays {
				if !reflect.DeepEqual(roundTrip(t, o), overlayCopies[i]) {
					t.Errorf("Merge modified overlay %d", i)
				}
			}
			// Helm's CLI merges -f files with loader.MergeMaps; the result must be the same,
			// explicit nulls included.
			helm := base()
			for _, o := range tt.overlays {
				helm = loader.MergeMaps(helm, o)
			}
			if !reflect.DeepEqual(got, helm) {
				t.Errorf("Merge = %v, Helm's merge = %v", got, helm)
			}
		})
	}
	// The result owns its data: changing it does not reach back into an overlay.
	overlay := map[string]any{"server": map[string]any{"extra": map[string]any{"a": "b"}, "list": []any{"x"}}}
	got := Merge(base(), overlay)
	got["server"].(map[string]any)["extra"].(map[string]any)["a"] = "changed"
	got["server"].(map[string]any)["list"].([]any)[0] = "changed"
	if !reflect.DeepEqual(overlay, map[string]any{"server": map[string]any{"extra": map[string]any{"a": "b"}, "list": []any{"x"}}}) {
		t.Errorf("the merged values share data with an overlay: %v", overlay)
	}
}

func TestDeepCopyMapOfNil(t *testing.T) {
	if got := DeepCopyMap(nil); got == nil || len(got) != 0 {
		t.Errorf("DeepCopyMap(nil) = %#v, want an empty map", got)
	}
}

func TestLookup(t *testing.T) {
	values := map[string]any{
		"server": map[string]any{
			"retention":     "15d",
			"retentionSize": "",
			"port":          9090,
			"remoteWrite":   nil,
			"enabled":       true,
		},
		"serverFiles": map[string]any{"prometheus.yml": map[string]any{"scrape_configs": []any{}}},
	}
	tests := []struct {
		keys     []string
		want     any
		ok       bool
		str      string
		strIsSet bool
	}{
		{[]string{"server", "retention"}, "15d", true, "15d", true},
		{[]string{"server", "retentionSize"}, "", true, "", false},
		{[]string{"server", "port"}, 9090, true, "9090", true},
		{[]string{"server", "remoteWrite"}, nil, false, "", false},
		{[]string{"server", "missing"}, nil, false, "", false},
		{[]string{"server", "retention", "deeper"}, nil, false, "", false},
		{[]string{"serverFiles", "prometheus.yml", "scrape_configs"}, []any{}, true, "[]", true},
		{nil, values, true, "", true},
	}
	for _, tt := range tests {
		got, ok := Lookup(values, tt.keys...)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%v) = %v, %v; want %v, %v", tt.keys, got, ok, tt.want, tt.ok)
		}
		if tt.keys == nil {
			continue
		}
		s, set := LookupString(values, tt.keys...)
		if s != tt.str || set != tt.strIsSet {
			t.Errorf("LookupString(%v) = %q, %v; want %q, %v", tt.keys, s, set, tt.str, tt.strIsSet)
		}
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		v    any
		want int64
		ok   bool
	}{
		{80, 80, true},
		{int32(80), 80, true},
		{int64(80), 80, true},
		{float64(80), 80, true},
		{json.Number("80"), 80, true},
		{80.5, 0, false},
		{json.Number("8e1x"), 0, false},
		{"80", 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := Int(tt.v)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Int(%#v) = %d, %v; want %d, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIsTrue(t *testing.T) {
	tests := []struct {
		v       any
		present bool
		want    bool
	}{
		{true, true, true},
		{false, true, false},
		{"true", true, false},
		{1, true, false},
		{true, false, false},
		{nil, false, false},
	}
	for _, tt := range tests {
		if got := IsTrue(tt.v, tt.present); got != tt.want {
			t.Errorf("IsTrue(%#v, %v) = %v, want %v", tt.v, tt.present, got, tt.want)
		}
	}
}
