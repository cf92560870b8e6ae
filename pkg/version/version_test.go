package version

import (
	"runtime"
	"runtime/debug"
	"strings"
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

// `go install github.com/meshmon/meshmon/cmd/kubectl-meshmon@v0.3.0` stamps
// nothing; the module version the toolchain records must be reported.
func TestGoInstallReportsTheModuleVersion(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/meshmon/meshmon", Version: "v0.3.0"}}
	if got := withBuildInfo(Info{}, bi, true); got.Version != "v0.3.0" {
		t.Errorf("Version = %q, want the module version v0.3.0", got.Version)
	}
	checkout := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}}
	if got := withBuildInfo(Info{}, checkout, true); got.Version != "dev" || got.GitCommit != "abc123" {
		t.Errorf("checkout build = %+v, want dev at abc123", got)
	}
	if got := withBuildInfo(Info{}, nil, false); got.Version != "unknown" {
		t.Errorf("no build info: Version = %q, want unknown", got.Version)
	}
}

func TestUserAgent(t *testing.T) {
	if got, want := userAgent("v0.1.0", "linux", "amd64", "build-1"), "meshmon/v0.1.0 (linux/amd64) build-1"; got != want {
		t.Errorf("userAgent = %q, want %q", got, want)
	}
	if got, want := userAgent("dev", "darwin", "arm64", ""), "meshmon/dev (darwin/arm64)"; got != want {
		t.Errorf("userAgent without a host = %q, want %q", got, want)
	}
	if ua := UserAgent(); !strings.HasPrefix(ua, "meshmon/") || strings.ContainsAny(ua, "\r\n") {
		t.Errorf("UserAgent() = %q", ua)
	}
}
