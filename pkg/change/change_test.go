package change

import "testing"

func TestChanged(t *testing.T) {
	for _, tc := range []struct {
		actions []Action
		want    bool
	}{
		{nil, false},
		{[]Action{Unchanged, Absent, Kept}, false},
		{[]Action{Unchanged, Created}, true},
		{[]Action{Merged}, true},
		{[]Action{Unmerged}, true},
		{[]Action{Upgraded}, true},
	} {
		var cs Changes
		for _, a := range tc.actions {
			cs = append(cs, Change{Kind: "Server", Name: "x", Action: a})
		}
		if got := cs.Changed(); got != tc.want {
			t.Errorf("%v: Changed() = %v, want %v", tc.actions, got, tc.want)
		}
	}
}
