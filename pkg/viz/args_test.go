package viz

import (
	"slices"
	"testing"
)

func TestFindFlag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		found  bool
		value  string
		index  int
		count  int
		dashes string
	}{
		{name: "single dash with =", args: []string{"-a=1", "-prometheus-url=http://x:9090", "-b"}, found: true, value: "http://x:9090", index: 1, count: 1, dashes: "-"},
		{name: "double dash with =", args: []string{"--prometheus-url=http://y"}, found: true, value: "http://y", index: 0, count: 1, dashes: "--"},
		{name: "separate value token", args: []string{"-x", "-prometheus-url", "http://z", "-y"}, found: true, value: "http://z", index: 1, count: 2, dashes: "-"},
		{name: "last occurrence wins", args: []string{"-prometheus-url=a", "-b", "--prometheus-url", "c"}, found: true, value: "c", index: 2, count: 2, dashes: "--"},
		{name: "a longer flag name is not a match", args: []string{"-prometheus-url-extra=a", "-prometheus-urls=b"}},
		{name: "flag without a value at the end", args: []string{"-prometheus-url"}},
		{name: "absent", args: []string{"heartbeat", "-log-level=info"}},
		{name: "no args", args: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := findFlag(tc.args, PrometheusURLFlag)
			if f.found != tc.found || f.value != tc.value {
				t.Fatalf("findFlag = found %v value %q, want found %v value %q", f.found, f.value, tc.found, tc.value)
			}
			if tc.found && (f.index != tc.index || f.count != tc.count || f.dashes != tc.dashes) {
				t.Errorf("position = index %d count %d dashes %q, want %d %d %q", f.index, f.count, f.dashes, tc.index, tc.count, tc.dashes)
			}
		})
	}
}

func TestSetFlagKeepsOtherArgsAndOrder(t *testing.T) {
	const url = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "metrics-api fixture args",
			args: []string{"-controller-namespace=linkerd", "-log-level=info", "-log-format=plain", "-cluster-domain=cluster.local",
				"-prometheus-url=http://prometheus.linkerd-viz.svc.cluster.local:9090", "-enable-pprof=false"},
			want: []string{"-controller-namespace=linkerd", "-log-level=info", "-log-format=plain", "-cluster-domain=cluster.local",
				"-prometheus-url=" + url, "-enable-pprof=false"},
		},
		{
			name: "heartbeat: subcommand first, quoted style",
			args: []string{"heartbeat", "-controller-namespace=linkerd", "-prometheus-url=http://old:9090"},
			want: []string{"heartbeat", "-controller-namespace=linkerd", "-prometheus-url=" + url},
		},
		{
			name: "two-token form becomes one token in place",
			args: []string{"-a", "--prometheus-url", "http://old", "-b=2"},
			want: []string{"-a", "--prometheus-url=" + url, "-b=2"},
		},
		{
			name: "only the effective (last) occurrence changes",
			args: []string{"-prometheus-url=http://first", "-x", "-prometheus-url=http://second"},
			want: []string{"-prometheus-url=http://first", "-x", "-prometheus-url=" + url},
		},
		{
			name: "absent flag is appended",
			args: []string{"-log-level=info"},
			want: []string{"-log-level=info", "-prometheus-url=" + url},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := slices.Clone(tc.args)
			got := setFlag(tc.args, PrometheusURLFlag, url)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("setFlag =\n  %q\nwant\n  %q", got, tc.want)
			}
			if !slices.Equal(tc.args, orig) {
				t.Errorf("setFlag modified its input: %q", tc.args)
			}
			if again := setFlag(got, PrometheusURLFlag, url); !slices.Equal(again, got) {
				t.Errorf("setFlag is not idempotent: second run gave %q", again)
			}
			// What restore does: the recorded tokens go back where meshmon's flag is.
			before := findFlag(tc.args, PrometheusURLFlag)
			back := replaceTokens(got, findFlag(got, PrometheusURLFlag), before.tokens(tc.args))
			if !slices.Equal(back, tc.args) {
				t.Errorf("round trip =\n  %q\nwant the original\n  %q", back, tc.args)
			}
		})
	}
}
