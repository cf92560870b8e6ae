package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/remotewrite"
	"github.com/meshmon/meshmon/pkg/scrape"
)

func testInvocation(namespace string) *invocation {
	inv := newInvocation(KubectlHost, genericiooptions.NewTestIOStreamsDiscard(), func(string) string { return "" })
	if namespace != "" {
		inv.kubeFlags.Namespace = &namespace
	}
	return inv
}

func format(value string, allowed ...string) *outputFlag {
	return &outputFlag{value: value, allowed: allowed}
}

// completeAndValidate runs the first two stages of a command; Run is never reached.
func completeAndValidate(o options, args ...string) error {
	if err := o.Complete(&cobra.Command{}, args); err != nil {
		return err
	}
	return o.Validate()
}

// Every command validates its flags before touching the cluster, with usage errors
// (exit 2) that name the flag.
func TestOptionsValidate(t *testing.T) {
	inv := testInvocation("")
	long := strings.Repeat("a", release.MaxNameLength+1)
	for _, tc := range []struct {
		name string
		o    options
		args []string
		want string // "" means valid
	}{
		{"status", &statusOptions{releaseReader{inv: inv, releaseName: defaults.ReleaseName, output: format("table", "table", "json", "yaml")}}, nil, ""},
		{"status -o xml", &statusOptions{releaseReader{inv: inv, releaseName: defaults.ReleaseName, output: format("xml", "table", "json", "yaml")}}, nil, "must be one of table, json, yaml"},
		{"status long name", &statusOptions{releaseReader{inv: inv, releaseName: long, output: format("table", "table")}}, nil, "Helm allows at most 53"},
		{"uninstall", &uninstallOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}, nil, ""},
		{"uninstall --timeout 0", &uninstallOptions{inv: inv, releaseName: defaults.ReleaseName}, nil, "--timeout must be positive"},
		{"uninstall bad mtls", &uninstallOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, mtlsName: "Bad_"}, nil, "invalid --mtls-authentication"},
		{"uninstall --yes without --delete-data", &uninstallOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, yes: true}, nil, "--yes only confirms --delete-data"},
		{"check", &checkOptions{inv: inv, releaseName: defaults.ReleaseName, output: format("table", "table", "short", "json")}, nil, ""},
		{"check bad release", &checkOptions{inv: inv, releaseName: "UPPER", output: format("table", "table")}, nil, `release name "UPPER" is invalid`},
		{"check --pre --proxy", &checkOptions{inv: inv, releaseName: defaults.ReleaseName, output: format("table", "table"), pre: true, proxy: true}, nil, "cannot be combined"},
		{"check unknown category", &checkOptions{inv: inv, releaseName: defaults.ReleaseName, output: format("table", "table"), categories: []string{"nope"}}, nil, "unknown check category nope"},
		{"federate add", &federateAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}, []string{"west"}, "--url is required"},
		{"federate add bad url", &federateAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, source: scrape.FederationSource{URL: "ftp://a"}}, []string{"west"}, `invalid --url "ftp://a"`},
		{"remote-write add", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/api/v1/write"}, bearer: "tok:key", tenant: "a"}, []string{"vm"}, ""},
		{"remote-write add no url", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}, []string{"vm"}, "--url is required"},
		{"remote-write add bad secret", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/"}, ca: "Bad.Name"}, []string{"vm"}, "invalid Secret name"},
		{"remote-write add auth header", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/"}, headers: []string{"Authorization=Bearer x"}}, []string{"vm"}, "--bearer-token-secret"},
		{"remote-write add queue both", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/", MaxShards: 2}, queueConfig: "{capacity: 1}"}, []string{"vm"}, "cannot be combined"},
		{"remote-write add bad queue", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/"}, queueConfig: "[1"}, []string{"vm"}, "--queue-config:"},
		{"remote-write add bad keep", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/", Keep: []string{"{job=x}"}}}, []string{"vm"}, "invalid --keep"},
		{"remote-write add bad name", &remoteWriteAddOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute, endpoint: remotewrite.Endpoint{URL: "https://vm/"}}, []string{"VM"}, "invalid name"},
		{"remote-write list -o xml", &remoteWriteListOptions{releaseReader{inv: inv, releaseName: defaults.ReleaseName, output: format("xml", "table", "json", "yaml")}}, nil, "must be one of"},
		{"remote-write remove", &remoteWriteRemoveOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}, []string{"vm"}, ""},
		{"federate remove", &federateRemoveOptions{inv: inv, releaseName: defaults.ReleaseName, timeout: time.Minute}, []string{"west"}, ""},
		{"federate remove bad release", &federateRemoveOptions{inv: inv, releaseName: "a_b", timeout: time.Minute}, []string{"west"}, "is invalid"},
		{"federate list", &federateListOptions{releaseReader{inv: inv, releaseName: defaults.ReleaseName, output: format("yaml", "table", "json", "yaml")}}, nil, ""},
		{"viz configure by URL skips the release name", &vizConfigureOptions{inv: inv, releaseName: "UPPER", prometheusURL: "http://p.monitoring:9090", output: format("text", "text")}, nil, ""},
		{"viz configure bad release", &vizConfigureOptions{inv: inv, releaseName: "UPPER", output: format("text", "text")}, nil, "is invalid"},
		{"viz restore -o table", &vizRestoreOptions{inv: inv, output: format("table", "text", "json", "yaml")}, nil, "must be one of text, json, yaml"},
		{"policy apply bad client", &policyApplyOptions{inv: inv, spec: policySpecFlags{releaseName: defaults.ReleaseName, clients: []string{"grafana"}}, output: format("text", "text")}, nil, "--allow-client"},
		{"policy show", &policyShowOptions{inv: inv, spec: policySpecFlags{releaseName: defaults.ReleaseName, clients: []string{"grafana/grafana"}}, output: format("table", "table")}, nil, ""},
		{"policy delete bad release", &policyDeleteOptions{inv: inv, spec: policySpecFlags{releaseName: ""}, output: format("text", "text")}, nil, "the release name is empty"},
		{"allow-scrapes needs -n", &policyAllowScrapesOptions{inv: inv, spec: policySpecFlags{releaseName: defaults.ReleaseName}, output: format("text", "text")}, nil, "name the namespace to authorize with -n"},
		{"allow-scrapes -n and --all", &policyAllowScrapesOptions{inv: testInvocation("shop"), spec: policySpecFlags{releaseName: defaults.ReleaseName}, all: true, output: format("text", "text")}, nil, "exclude each other"},
		{"version -o xml", &versionOptions{inv: inv, output: format("xml", "text", "json", "yaml")}, nil, "must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := completeAndValidate(tc.o, tc.args...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ee *ExitError
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ee) || ee.Code != ExitUsage {
				t.Fatalf("error %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

// Complete derives state; Validate then only reads it.
func TestOptionsComplete(t *testing.T) {
	t.Run("allow-scrapes: -n is the namespace to authorize, Prometheus defaults to viz's", func(t *testing.T) {
		o := &policyAllowScrapesOptions{inv: testInvocation("shop"), spec: policySpecFlags{releaseName: defaults.ReleaseName}, output: format("text", "text")}
		if err := completeAndValidate(o); err != nil {
			t.Fatal(err)
		}
		if o.namespace != "shop" || o.spec.promNamespace != defaults.VizNamespace {
			t.Errorf("namespace %q, Prometheus in %q", o.namespace, o.spec.promNamespace)
		}
	})
	t.Run("federate add: the argument names the source and the URL is normalized", func(t *testing.T) {
		o := &federateAddOptions{inv: testInvocation(""), releaseName: defaults.ReleaseName, timeout: time.Minute}
		o.source.URL = "https://prometheus.west.example.com"
		if err := completeAndValidate(o, "west"); err != nil {
			t.Fatal(err)
		}
		if o.source.Name != "west" || !strings.HasSuffix(o.source.URL, "/federate") {
			t.Errorf("source %+v", o.source)
		}
	})
	t.Run("install: the policy names the install's release, clients are parsed", func(t *testing.T) {
		cmd := newInstallCommand(testInvocation(""))
		o := &installOptions{inv: testInvocation(""), timeout: time.Minute}
		o.values.ReleaseName = "mon"
		o.policy.clients = []string{"grafana/grafana"}
		if err := o.Complete(cmd, nil); err != nil {
			t.Fatal(err)
		}
		in := o.installOptions()
		if in.Policy.ReleaseName != "mon" || len(in.Policy.AllowClients) != 1 || in.Policy.AllowClients[0].String() != "grafana/grafana" {
			t.Errorf("policy input %+v", in.Policy)
		}
		if in.Chart.Version != "" {
			t.Errorf("chart version %q without --chart-version", in.Chart.Version)
		}
	})
}
