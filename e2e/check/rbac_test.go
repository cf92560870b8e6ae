//go:build e2e

package check

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/e2e/framework"
)

// limitedGroup is the group of the framework's limited user (LimitedKubeconfig).
const limitedGroup = "meshmon:limited"

// bindPublishedRole applies docs/rbac/<file> (generated from the code's permission lists)
// and binds each of its roles to the limited user's group, until the test ends.
func bindPublishedRole(t *testing.T, env *framework.Env, file string) {
	t.Helper()
	path := filepath.Join("..", "..", "docs", "rbac", file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env.KubectlApply(t, string(data))
	var bindings []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch obj.Kind {
		case "ClusterRole":
			bindings = append(bindings, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: "+obj.Metadata.Name+"-limited}\n"+
				"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "+obj.Metadata.Name+"}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: \""+limitedGroup+"\"}]\n")
		case "Role":
			bindings = append(bindings, "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: "+obj.Metadata.Name+"-limited, namespace: "+obj.Metadata.Namespace+"}\n"+
				"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "+obj.Metadata.Name+"}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: \""+limitedGroup+"\"}]\n")
		}
	}
	if len(bindings) == 0 {
		t.Fatalf("%s has no roles", path)
	}
	manifest := strings.Join(bindings, "---\n")
	env.KubectlApply(t, manifest)
	t.Cleanup(func() {
		r := env.Exec(t, nil, filepath.Join(env.K8sBin, "kubectl"), "delete", "--ignore-not-found", "-f", path)
		if r.Code != 0 {
			t.Errorf("deleting the roles of %s: %s", path, r.Stderr)
		}
		cmd := filepath.Join(env.K8sBin, "kubectl")
		for _, b := range bindings {
			f := filepath.Join(t.TempDir(), "binding.yaml")
			if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
				t.Error(err)
				continue
			}
			if r := env.Exec(t, nil, cmd, "delete", "--ignore-not-found", "-f", f); r.Code != 0 {
				t.Errorf("deleting a binding: %s", r.Stderr)
			}
		}
	})
}

// checkSummary lists every check of a -o json run as "category / description: result".
func checkSummary(t *testing.T, stdout string) []string {
	t.Helper()
	var out linkerdOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("check -o json: %v\n%s", err, stdout)
	}
	var lines []string
	for _, c := range out.Categories {
		for _, ch := range c.Checks {
			lines = append(lines, c.CategoryName+" / "+firstLine(ch.Description)+": "+ch.Result+" "+ch.Error)
		}
	}
	return lines
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// permissionText is the project's unified refusal: "permission denied: cannot VERB
// RESOURCE …; ask a cluster admin …", or preflight's list of what is missing.
var permissionText = regexp.MustCompile(`(permission denied: cannot \w+ \S+|you may not [a-z, ]+ \S+ \(|missing \d+ permissions?)[^\n]*ask a cluster admin`)

// testPublishedRBAC runs in TestCheck's healthy state (a full install with the real
// Prometheus): a user bound to exactly docs/rbac/check.yaml runs the whole suite with
// every check the admin sees, all passing (nothing forbidden, nothing skipped for it), and
// an install or uninstall with that role stops with the permission it lacks; bound only to
// docs/rbac/status.yaml, status shows everything an admin sees.
func testPublishedRBAC(t *testing.T, env *framework.Env) {
	limited := "--kubeconfig=" + env.LimitedKubeconfig()
	// Credentials never printed: the limited user's private key, even in verbose logs.
	kc, err := clientcmd.LoadFromFile(env.LimitedKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	var key []byte
	for _, u := range kc.AuthInfos {
		if key, err = os.ReadFile(u.ClientKey); err != nil {
			t.Fatal(err)
		}
	}
	if len(key) == 0 {
		t.Fatal("the limited kubeconfig has no client key")
	}
	for _, line := range strings.Split(string(key), "\n") {
		if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
			framework.RegisterSecret(t, line)
		}
	}

	t.Run("a rejected bearer token is never printed", func(t *testing.T) {
		const token = "meshmon-e2e-test-token-5d1c0a8f3b7e4692"
		framework.RegisterSecret(t, token)
		tokenKC := tokenKubeconfig(t, env, token)
		before := framework.RecordedOutputs()
		// --verbose (client-go's request log) is a flag of the linkerd host, as linkerd passes it.
		for _, args := range [][]string{
			{"check", "--verbose", "-o", "short"},
			{"check", "--verbose", "--output=json"},
			{"install", "--verbose", "--chart", framework.TestChart(t, "prometheus"), "--dry-run"},
			{"federate", "list", "--verbose"},
		} {
			r := env.Meshmon(t, "linkerd", append(args, "--kubeconfig="+tokenKC)...)
			if r.Code == 0 {
				t.Errorf("%v with a token the API server does not know succeeded:\n%s", args, r.Stdout)
			}
			if !strings.Contains(r.Stdout+r.Stderr, "nauthorized") && !strings.Contains(r.Stdout+r.Stderr, "credentials") {
				t.Errorf("%v: the refusal does not say the credentials were rejected:\n%s%s", args, r.Stdout, r.Stderr)
			}
		}
		if framework.RecordedOutputs() == before {
			t.Fatal("the runs were not recorded for the secret scan")
		}
		// The same token given as a flag.
		env.Meshmon(t, "linkerd", "check", "--verbose", "--kubeconfig="+tokenKC, "--token="+token)
	})

	t.Run("without a role", func(t *testing.T) {
		r := env.Meshmon(t, "kubectl", "check", limited, "-o", "short")
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "forbidden") && !permissionText.MatchString(r.Stdout+r.Stderr) {
			t.Fatalf("check without any permission: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	// Bound only to the status role (before the check role is bound): status reads the
	// release, its server and volume, and Prometheus' own figures through a port-forward.
	t.Run("status role shows the status", func(t *testing.T) {
		bindPublishedRole(t, env, "status.yaml")
		var r framework.Result
		framework.Eventually(t, 30*time.Second, func() error {
			if r = env.Meshmon(t, "kubectl", "status", limited, "-o", "json"); r.Code != 0 {
				return &checkFailed{r}
			}
			return nil
		})
		var st struct {
			Release, Status, URL, PrometheusError string
			Workload                              *struct{ Kind, Name string }
			Storage                               []struct{ Claim, ReclaimPolicy string }
			Prometheus                            *struct{ HeadSeries float64 }
		}
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
			t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
		}
		if st.Release != "prometheus" || st.Status != "deployed" || st.URL == "" || st.Workload == nil || len(st.Storage) != 1 ||
			st.Storage[0].ReclaimPolicy == "" || st.Prometheus == nil || st.Prometheus.HeadSeries == 0 || st.PrometheusError != "" {
			t.Errorf("status with the published status role lacks something an admin sees:\n%s", r.Stdout)
		}
		if r.Stderr != "" {
			t.Errorf("status with the status role warned: %s", r.Stderr)
		}
		if r := env.Meshmon(t, "kubectl", "status", limited); r.Code != 0 || !strings.Contains(r.Stdout, "WORKLOAD       Deployment prometheus-server (1/1 ready)") {
			t.Errorf("status table with the status role: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	bindPublishedRole(t, env, "check.yaml")
	admin := env.Meshmon(t, "kubectl", "check", "-o", "json")
	if admin.Code != 0 {
		t.Fatalf("admin check: exit %d\n%s%s", admin.Code, admin.Stdout, admin.Stderr)
	}
	want := checkSummary(t, admin.Stdout)

	t.Run("check role runs the whole suite", func(t *testing.T) {
		var r framework.Result
		// The bindings take effect as soon as the API server's RBAC cache has them.
		framework.Eventually(t, 30*time.Second, func() error {
			r = env.Meshmon(t, "kubectl", "check", limited, "-o", "json")
			if r.Code != 0 {
				return &checkFailed{r}
			}
			return nil
		})
		got := checkSummary(t, r.Stdout)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("with the published check role the suite differs from the admin's:\ngot\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if strings.Contains(r.Stdout+r.Stderr, "forbidden") {
			t.Errorf("something was forbidden:\n%s%s", r.Stdout, r.Stderr)
		}
		// linkerd check with meshmon as an extension takes the same role.
		lr := env.Meshmon(t, "linkerd", "check", limited, "--output=json")
		if lr.Code != 0 {
			t.Errorf("linkerd-meshmon check with the check role: exit %d\n%s%s", lr.Code, lr.Stdout, lr.Stderr)
		}
		// --verbose logs every request: still no credential (RegisterSecret scans it).
		if r := env.Meshmon(t, "linkerd", "check", limited, "--verbose", "-o", "short"); r.Code != 0 || !strings.Contains(r.Stderr, "https://") {
			t.Errorf("linkerd-meshmon check --verbose with the check role: exit %d, want 0 and the request log on stderr\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("install beyond the check role", func(t *testing.T) {
		r := env.Meshmon(t, "kubectl", "install", limited, "--chart", framework.TestChart(t, "prometheus"), "--release-name", "rbac-probe", "-n", "rbac-probe", "--skip-check")
		if r.Code == 0 {
			t.Fatalf("install with only the check role succeeded:\n%s", r.Stdout)
		}
		if !permissionText.MatchString(r.Stdout + r.Stderr) {
			t.Errorf("install with the check role does not say which permission it needs:\n%s%s", r.Stdout, r.Stderr)
		}
	})

	t.Run("uninstall beyond the check role", func(t *testing.T) {
		r := env.Meshmon(t, "kubectl", "uninstall", limited, "--delete-data", "--yes")
		t.Logf("uninstall with the check role (exit %d):\n%s%s", r.Code, r.Stdout, r.Stderr)
		if r.Code == 0 {
			t.Fatalf("uninstall with only the check role succeeded:\n%s", r.Stdout)
		}
		if !permissionText.MatchString(r.Stdout+r.Stderr) || !strings.Contains(r.Stderr, "nothing was changed") {
			t.Errorf("uninstall with the check role does not say which permission it needs, before changing anything:\n%s%s", r.Stdout, r.Stderr)
		}
		if r := env.Meshmon(t, "kubectl", "status"); r.Code != 0 || !strings.Contains(r.Stdout, "STATUS         deployed") {
			t.Errorf("the refused uninstall changed the release:\n%s%s", r.Stdout, r.Stderr)
		}
	})
}

// testUninstallInstallRoles runs last in TestCheck: a user bound to exactly
// docs/rbac/uninstall.yaml uninstalls the release with --delete-data (viz restored, policy
// deleted, release and data volume gone), and then a user bound to exactly
// docs/rbac/install.yaml installs it afresh (revision 1, viz rewired, policy applied), and
// the uninstall role removes that install again, now restoring viz (metrics-api's flag, the
// bundled Prometheus recreated, its backup deleted) and deleting the policy. The install skips its final checks: the test's Prometheus ran for the old pod; that the
// install role covers the checks is by construction (install.RequiredAccess includes
// checks.RequiredAccess) and the check role's subtest proves those.
func testUninstallInstallRoles(t *testing.T, env *framework.Env, installArgs []string) {
	limited := "--kubeconfig=" + env.LimitedKubeconfig()
	// uninstall runs as the limited user bound to exactly uninstall.yaml and must print want.
	uninstall := func(t *testing.T, want ...*regexp.Regexp) {
		bindPublishedRole(t, env, "uninstall.yaml")
		var r framework.Result
		framework.Eventually(t, 30*time.Second, func() error {
			if r = env.Meshmon(t, "kubectl", "uninstall", limited, "--delete-data", "--yes"); r.Code != 0 {
				return &checkFailed{r}
			}
			return nil
		})
		t.Logf("uninstall with the uninstall role:\n%s", r.Stdout)
		want = append(want, regexp.MustCompile(`Uninstalled release prometheus \(revision \d+\)`), regexp.MustCompile(`Deleted the data volume: PVC linkerd-viz/prometheus-server`))
		for _, w := range want {
			if !w.MatchString(r.Stdout) {
				t.Errorf("uninstall with the published uninstall role: no %q\n%s%s", w, r.Stdout, r.Stderr)
			}
		}
		if strings.Contains(r.Stdout+r.Stderr, "forbidden") {
			t.Errorf("something was forbidden:\n%s%s", r.Stdout, r.Stderr)
		}
	}
	t.Run("uninstall role uninstalls", func(t *testing.T) { uninstall(t) })
	t.Run("install role installs", func(t *testing.T) {
		bindPublishedRole(t, env, "install.yaml")
		args := append(append([]string(nil), installArgs...), "--skip-check", limited)
		var r framework.Result
		framework.Eventually(t, 30*time.Second, func() error {
			if r = env.Meshmon(t, "kubectl", args...); r.Code != 0 {
				return &checkFailed{r}
			}
			return nil
		})
		t.Logf("install with the install role:\n%s%s", r.Stdout, r.Stderr)
		for _, want := range []string{"Installed release prometheus (revision 1, ", "√ linkerd-viz now uses http://prometheus-server.linkerd-viz.svc.cluster.local:9090", "√ authorization policy applied"} {
			if !strings.Contains(r.Stdout+r.Stderr, want) {
				t.Errorf("install with the published install role: no %q\n%s%s", want, r.Stdout, r.Stderr)
			}
		}
		if strings.Contains(r.Stdout+r.Stderr, "forbidden") {
			t.Errorf("something was forbidden:\n%s%s", r.Stdout, r.Stderr)
		}
	})
	// Now viz is rewired and the policy applied, so uninstall has all of its work to do.
	t.Run("uninstall role restores viz and deletes the policy", func(t *testing.T) {
		uninstall(t,
			regexp.MustCompile(`deployment/metrics-api -n linkerd-viz +configured`),
			regexp.MustCompile(`deployment/prometheus -n linkerd-viz +created`),
			regexp.MustCompile(`configmap/meshmon-viz-backup -n linkerd-viz +deleted`),
			regexp.MustCompile(`server/prometheus-server-admin -n linkerd-viz +deleted`),
			regexp.MustCompile(`meshtlsauthentication/meshmon-prometheus -n linkerd-viz +deleted`))
	})
}

// tokenKubeconfig is the admin kubeconfig's cluster with a user that has only a bearer
// token, which this API server (client certificates only) rejects.
func tokenKubeconfig(t *testing.T, env *framework.Env, token string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range cfg.AuthInfos {
		u.ClientCertificate, u.ClientKey, u.ClientCertificateData, u.ClientKeyData = "", "", nil, nil
		u.Token = token
		cfg.AuthInfos[name] = u
	}
	path := filepath.Join(t.TempDir(), "token.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

type checkFailed struct{ r framework.Result }

func (c *checkFailed) Error() string {
	return fmt.Sprintf("check exit %d\n%s%s", c.r.Code, c.r.Stdout, c.r.Stderr)
}
