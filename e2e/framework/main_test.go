//go:build e2e

package framework

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestDeadE2EName(t *testing.T) {
	// A process that has exited and been reaped: its PID is dead.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	for name, want := range map[string]bool{
		fmt.Sprintf("mm-e2e-check-%d", dead):        true,
		fmt.Sprintf("mm-e2e-check-%d", os.Getpid()): false, // this test is running
		fmt.Sprintf("meshmon-%d", dead):             false, // not an e2e cluster
		"mm-e2e-check-x":                            false,
		"mm-e2e-check-0":                            false,
		"meshmon":                                   false,
	} {
		if got := deadE2EName(name); got != want {
			t.Errorf("deadE2EName(%q) = %v, want %v", name, got, want)
		}
	}
}
