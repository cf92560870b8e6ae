package release

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"prometheus", true},
		{"p", true},
		{"mesh-prom-1", true},
		{strings.Repeat("a", MaxNameLength), true},
		{strings.Repeat("a", MaxNameLength+1), false},
		{"", false},
		{"Prometheus", false},
		{"prom.one", false},
		{"-prom", false},
		{"prom_1", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && tc.name != "" && !strings.Contains(err.Error(), "53") {
			t.Errorf("ValidateName(%q): error %q does not state the limit", tc.name, err)
		}
	}
}
