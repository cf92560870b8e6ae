//go:build e2e

// Package foundation checks that both binaries work against the real
// control plane and inside their real hosts.
package foundation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestVersionReportsServerVersion(t *testing.T) {
	env := framework.Current(t)
	r := env.MustMeshmon(t, "kubectl", "version", "-o", "json")
	var doc struct {
		ClientVersion struct{ Version string }    `json:"clientVersion"`
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, r.Stdout)
	}
	if doc.ClientVersion.Version != "v0.0.0-e2e" {
		t.Errorf("client version = %q, want the stamped v0.0.0-e2e", doc.ClientVersion.Version)
	}
	if doc.ServerVersion.GitVersion != "v1.37.1" {
		t.Errorf("server version = %q, want v1.37.1 (the harness's kube-apiserver)", doc.ServerVersion.GitVersion)
	}
	text := env.MustMeshmon(t, "kubectl", "version").Stdout
	if !strings.Contains(text, "Server Version: v1.37.1") {
		t.Errorf("text version output lacks the server version:\n%s", text)
	}
}

// The real kubectl must find and run the plugin from PATH.
func TestKubectlFindsPlugin(t *testing.T) {
	env := framework.Current(t)
	path := []string{"PATH=" + env.Bin + string(os.PathListSeparator) + env.K8sBin + ":/usr/sbin:/usr/bin:/sbin:/bin"}
	kubectl := filepath.Join(env.K8sBin, "kubectl")

	r := env.Exec(t, path, kubectl, "meshmon", "version")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Server Version: v1.37.1") {
		t.Fatalf("kubectl meshmon version: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}

	r = env.Exec(t, path, kubectl, "plugin", "list")
	if r.Code != 0 {
		t.Fatalf("kubectl plugin list: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, filepath.Join(env.Bin, "kubectl-meshmon")) {
		t.Errorf("kubectl plugin list does not show kubectl-meshmon:\n%s", r.Stdout)
	}
	if strings.Contains(strings.ToLower(r.Stderr), "warning") || strings.Contains(strings.ToLower(r.Stdout), "warning") {
		t.Errorf("kubectl plugin list printed a warning:\nstdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}

	// Usage text names the host the way the user typed it.
	r = env.Exec(t, path, kubectl, "meshmon", "--help")
	if r.Code != 0 || !strings.Contains(r.Stdout, "kubectl meshmon [command]") {
		t.Errorf("kubectl meshmon --help does not show 'kubectl meshmon [command]':\n%s", r.Stdout)
	}
}

// What `linkerd check` does to an extension, flag for flag.
func TestLinkerdExtensionContract(t *testing.T) {
	env := framework.Current(t)
	r := env.MustMeshmon(t, "linkerd", "_extension-metadata")
	if strings.TrimSpace(r.Stdout) != `{"name":"linkerd-meshmon","checks":"always"}` {
		t.Errorf("_extension-metadata = %q", r.Stdout)
	}
	r = env.MustMeshmon(t, "linkerd", "version", "--as-group=[]", "--linkerd-namespace=linkerd", "--verbose=false")
	if !strings.Contains(r.Stdout, "Server Version: v1.37.1") {
		t.Errorf("linkerd-meshmon version with linkerd's flags did not reach the server:\n%s\n%s", r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stderr, "without impersonating a user") {
		t.Errorf("--as-group=[] was not dropped: %s", r.Stderr)
	}
}

// A wrong context is one clear error, not a stack of client-go noise.
func TestWrongContext(t *testing.T) {
	env := framework.Current(t)
	r := env.Meshmon(t, "kubectl", "version", "--context", "nope")
	if r.Code != 1 {
		t.Fatalf("exit = %d, want 1", r.Code)
	}
	if !strings.Contains(r.Stderr, `context "nope" does not exist`) || !strings.Contains(r.Stderr, "meshmon-test") {
		t.Errorf("error should name the bad context and list the real one:\n%s", r.Stderr)
	}
}
