// Package version reports the version meshmon was built as.
package version

import (
	"os"
	"runtime"
	"runtime/debug"
	"strings"
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

// UserAgent is what meshmon sends to the API server and Prometheus, so its
// requests can be told apart in audit logs and metrics:
// "meshmon/v0.1.0 (linux/amd64) <host>", the host being the machine's name.
func UserAgent() string {
	return userAgent(Get().Version, runtime.GOOS, runtime.GOARCH, hostname())
}

func userAgent(v, goos, arch, host string) string {
	ua := "meshmon/" + v + " (" + goos + "/" + arch + ")"
	if host != "" {
		ua += " " + host
	}
	return ua
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	// A header value may not hold control characters or spaces that would
	// split the product list; a host name has neither, but be safe.
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, h)
}
