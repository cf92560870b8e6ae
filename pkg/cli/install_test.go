package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// run executes one invocation without a cluster (no kubeconfig exists).
func run(t *testing.T, host Host, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"KUBECONFIG": filepath.Join(t.TempDir(), "none"), "NO_COLOR": "1"}
	t.Setenv("KUBECONFIG", env["KUBECONFIG"])
	code := Execute(context.Background(), host, args, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

func TestInstallFlagErrorsAreUsageErrors(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("server: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--storage-size", "20gb"}, `storage size "20gb" is not a Kubernetes quantity`},
		{[]string{"install", "--retention", "two weeks"}, "is not a Prometheus duration"},
		{[]string{"install", "--scrape-interval", "10s", "--retention-size", "lots"}, "retention size"},
		{[]string{"install", "--remote-write-url", "mimir:8080"}, "remote-write URL"},
		{[]string{"install", "--release-name", "Prometheus"}, "release name"},
		{[]string{"install", "--dry-run", "--repair"}, "cannot be combined with --dry-run"},
		{[]string{"install", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"install", "--chart-version", "29.x"}, "not an exact version"},
		{[]string{"install", "--chart", "oci://ghcr.io/x/prometheus:1.0.0", "--chart-version", "2.0.0"}, "give the version once"},
		{[]string{"install", "-f", filepath.Join(t.TempDir(), "missing.yaml")}, "reading chart values"},
		{[]string{"install", "-f", values}, "reading chart values"},
		{[]string{"install", "--set", "server.{bad"}, "reading chart values"},
		{[]string{"uninstall", "--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"status", "-o", "xml"}, "must be one of table, json, yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, KubectlHost, tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, ExitUsage, tc.want)
			}
			if out != "" {
				t.Errorf("stdout is not empty: %q", out)
			}
		})
	}
}

func TestReleaseCommandsHelpNamesTheHost(t *testing.T) {
	for _, host := range []Host{KubectlHost, LinkerdHost} {
		for _, cmd := range []string{"install", "uninstall", "status"} {
			code, out, _ := run(t, host, cmd, "--help")
			if code != 0 || !strings.Contains(out, host.Display+" "+cmd) {
				t.Errorf("%s %s --help: exit %d, no %q in:\n%s", host.Display, cmd, code, host.Display+" "+cmd, out)
			}
		}
	}
	_, out, _ := run(t, KubectlHost, "install", "--help")
	for _, flag := range []string{"--release-name", "--storage-size", "--storage-class", "--statefulset", "--retention", "--retention-size",
		"--scrape-interval", "--cluster-name", "--remote-write-url", "-f, --values", "--set", "--set-string", "--timeout", "--dry-run",
		"--repair", "--chart", "--chart-repo", "--chart-version"} {
		if !strings.Contains(out, flag) {
			t.Errorf("install --help lacks %s", flag)
		}
	}
	_, out, _ = run(t, KubectlHost, "uninstall", "--help")
	if !strings.Contains(out, "--delete-data") {
		t.Error("uninstall --help lacks --delete-data")
	}
}

// Without a cluster the commands fail with one clear error, not a usage error.
func TestReleaseCommandsWithoutCluster(t *testing.T) {
	for _, args := range [][]string{{"uninstall"}, {"status"}} {
		code, _, errOut := run(t, KubectlHost, args...)
		if code != ExitFailure || !strings.Contains(errOut, "Error:") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}
