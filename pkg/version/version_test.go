package version

import (
	"runtime"
	"testing"
)

// An unstamped build (go test, go build without -ldflags) must still say
// what it is instead of printing an empty version.
func TestUnstampedBuildFallsBack(t *testing.T) {
	got := Get()
	if got.Version != "dev" {
		t.Errorf("Version = %q, want dev for an unstamped development build", got.Version)
	}
	if got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("build facts = %+v", got)
	}
}

func TestStampedVersionWins(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	if got := Get().Version; got != "v1.2.3" {
		t.Errorf("Version = %q, want the stamped v1.2.3", got)
	}
}
