package linkerd

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestMetadataJSON(t *testing.T) {
	var m Metadata
	if err := json.Unmarshal(MetadataJSON(), &m); err != nil {
		t.Fatalf("metadata is not JSON: %v", err)
	}
	if m.Name != "linkerd-meshmon" || m.Checks != "always" {
		t.Fatalf("metadata = %+v, want name linkerd-meshmon, checks always", m)
	}
}

func TestNormalizeArgs(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"empty group list dropped", []string{"check", "--as-group=[]", "--output=json"}, []string{"check", "--output=json"}},
		{"separate value form dropped", []string{"check", "--as-group", "[]"}, []string{"check"}},
		{"real group kept", []string{"check", "--as=me", "--as-group=devs"}, []string{"check", "--as=me", "--as-group=devs"}},
		{"after -- untouched", []string{"x", "--", "--as-group=[]"}, []string{"x", "--", "--as-group=[]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NormalizeArgs(c.in); !slices.Equal(got, c.want) {
				t.Fatalf("NormalizeArgs(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}
