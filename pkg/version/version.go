// Package version reports the version meshmon was built as.
package version

import (
	"runtime"
	"runtime/debug"
)

// version and gitCommit are stamped at link time by the Makefile:
//
//	-X github.com/meshmon/meshmon/pkg/version.version=v0.1.0
//	-X github.com/meshmon/meshmon/pkg/version.gitCommit=<sha>
var (
	version   = ""
	gitCommit = ""
)

// Info describes a meshmon build.
type Info struct {
	Version   string `json:"version"`
	GitCommit string `json:"gitCommit,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the stamped version, falling back to what the Go toolchain
// recorded (module version for `go install …@vX`, VCS revision for a
// checkout) so an unstamped binary still says what it is.
func Get() Info {
	info := Info{
		Version:   version,
		GitCommit: gitCommit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	return withBuildInfo(info, bi, ok)
}

// withBuildInfo fills what the linker did not stamp from the toolchain's
// record of the build.
func withBuildInfo(info Info, bi *debug.BuildInfo, ok bool) Info {
	if !ok {
		if info.Version == "" {
			info.Version = "unknown"
		}
		return info
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.GitCommit == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.GitCommit = s.Value
			}
		}
	}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = "dev"
	}
	return info
}
