//go:build e2e

package remotewrite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/e2e/sim"
	"github.com/meshmon/meshmon/pkg/helmclient"
	"github.com/meshmon/meshmon/pkg/kube"
)

const (
	vizNS      = "linkerd-viz"
	serverName = "prometheus-server"
	category   = "meshmon-remote-write"
	cluster    = "east"
	tenant     = "t1"
	// tokenSecret holds VictoriaMetrics' bearer token (key "token").
	tokenSecret = "vm-token"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// session runs meshmon and keeps everything it printed: the transcript for
// the docs, and the text the test scans for credentials.
type session struct {
	env        *framework.Env
	transcript strings.Builder
}

// meshmon runs `kubectl meshmon args...` and records the command and its output.
func (s *session) meshmon(t testing.TB, args ...string) framework.Result {
	t.Helper()
	r := s.env.Meshmon(t, "kubectl", args...)
	fmt.Fprintf(&s.transcript, "$ kubectl meshmon %s\n%s%s", strings.Join(args, " "), r.Stdout, r.Stderr)
	if r.Code != 0 {
		fmt.Fprintf(&s.transcript, "(exit status %d)\n", r.Code)
	}
	s.transcript.WriteString("\n")
	return r
}

func (s *session) mustMeshmon(t testing.TB, args ...string) framework.Result {
	t.Helper()
	r := s.meshmon(t, args...)
	if r.Code != 0 {
		t.Fatalf("kubectl meshmon %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// add runs `remote-write add name args...`.
func (s *session) add(t testing.TB, name string, args ...string) {
	t.Helper()
	s.mustMeshmon(t, append([]string{"remote-write", "add", name}, args...)...)
}

// remove runs `remote-write remove name`.
func (s *session) remove(t testing.TB, name string) {
	t.Helper()
	s.mustMeshmon(t, "remote-write", "remove", name)
}

// checkResult is one check of `check -o json`.
type checkResult struct {
	Description string `json:"description"`
	Hint        string `json:"hint"`
	Error       string `json:"error"`
	Result      string `json:"result"`
}

func (c checkResult) String() string {
	return fmt.Sprintf("%s [%s] %s", strings.ReplaceAll(c.Description, "\n", " "), c.Result, c.Error)
}

// remoteWriteChecks runs the category once and returns its exit status and
// checks (none when the category did not run).
func (s *session) remoteWriteChecks(t testing.TB, extra ...string) (int, []checkResult) {
	t.Helper()
	r := s.env.Meshmon(t, "kubectl", append([]string{"check", "--category", category, "-o", "json"}, extra...)...)
	var out struct {
		Categories []struct {
			CategoryName string        `json:"categoryName"`
			Checks       []checkResult `json:"checks"`
		} `json:"categories"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("check -o json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	for _, c := range out.Categories {
		if c.CategoryName == category {
			return r.Code, c.Checks
		}
	}
	return r.Code, nil
}

// waitChecks polls the category until cond accepts its checks.
func (s *session) waitChecks(t testing.TB, timeout time.Duration, cond func(code int, cs []checkResult) error) []checkResult {
	t.Helper()
	var last []checkResult
	framework.Eventually(t, timeout, func() error {
		code, cs := s.remoteWriteChecks(t)
		last = cs
		if len(cs) == 0 {
			return fmt.Errorf("no %s category in the run (exit %d)", category, code)
		}
		return cond(code, cs)
	})
	return last
}

// allPass accepts a run in which every check of the category succeeded.
func allPass(code int, cs []checkResult) error {
	for _, c := range cs {
		if c.Result != "success" {
			return fmt.Errorf("%s", c)
		}
	}
	if code != 0 {
		return fmt.Errorf("exit %d although every remote-write check passed", code)
	}
	return nil
}

// failsNaming accepts a run in which a check naming queue failed with an
// error that contains every want (case-insensitive).
func failsNaming(queue string, want ...string) func(int, []checkResult) error {
	return func(code int, cs []checkResult) error {
		var failing, others []string
		for _, c := range cs {
			text := strings.ToLower(c.Description + " " + c.Error)
			if c.Result != "error" || !strings.Contains(text, queue+" (") {
				if c.Result != "success" {
					others = append(others, c.String())
				}
				continue
			}
			failing = append(failing, c.String())
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(text, strings.ToLower(w))
			}
			if ok {
				if !strings.Contains(c.Hint, "#mm-") {
					return fmt.Errorf("%s: hint %q names no fix in docs/checks.md", c, c.Hint)
				}
				if code == 0 {
					return fmt.Errorf("check exited 0 with a failing check: %s", c)
				}
				return nil
			}
		}
		return fmt.Errorf("no failing check of queue %q names all of %q (exit %d); failing: %q; other results that are not a success: %q", queue, want, code, failing, others)
	}
}

// putSecret creates or replaces Secret name in the release namespace.
func putSecret(t *testing.T, kc kubernetes.Interface, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: vizNS}, StringData: data}
	_, err := kc.CoreV1().Secrets(vizNS).Create(ctxT(t), s, metav1.CreateOptions{})
	if err == nil {
		return
	}
	cur, gerr := kc.CoreV1().Secrets(vizNS).Get(ctxT(t), name, metav1.GetOptions{})
	if gerr != nil {
		t.Fatalf("creating Secret %s: %v; reading it: %v", name, err, gerr)
	}
	cur.Data, cur.StringData = nil, data
	if _, err := kc.CoreV1().Secrets(vizNS).Update(ctxT(t), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// sync plays the kubelet and the config reloader until the server runs
// the Deployment's Secrets and the ConfigMap's configuration as they are now.
func sync(t *testing.T, p *sim.Prometheus) {
	t.Helper()
	if _, err := p.Sync(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// readBack waits until the store at base answers query with a series of
// cluster="east" whose sample is newer than since, and returns it.
func readBack(t *testing.T, base, query string, header http.Header, since time.Time) framework.QuerySample {
	t.Helper()
	var got framework.QuerySample
	framework.Eventually(t, 2*time.Minute, func() error {
		// The newest sample of each series within the last minute.
		res, err := framework.Query(ctxT(t), base, "timestamp("+query+")", header)
		if err != nil {
			return err
		}
		for _, s := range res {
			if s.Metric["cluster"] != cluster {
				return fmt.Errorf("%s: a series without cluster=%q: %v", base, cluster, s.Metric)
			}
			v, _ := s.Value[1].(string)
			ts, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s: sample %v", base, s.Value)
			}
			if time.Unix(int64(ts), 0).After(since) {
				got = s
				return nil
			}
		}
		return fmt.Errorf("%s: no sample of %s newer than %s among %d series", base, query, since.Format(time.RFC3339), len(res))
	})
	return got
}

// promValue is the single value of an instant query against the real Prometheus.
func promValue(t *testing.T, p *sim.Prometheus, query string) float64 {
	t.Helper()
	res, err := framework.Query(ctxT(t), p.URL, query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("%s: %d series, want 1: %v", query, len(res), res)
	}
	v, _ := res[0].Value[1].(string)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s: %v", query, res[0].Value)
	}
	return f
}

// noSecretIn fails the test when text contains one of the credentials.
func noSecretIn(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains a bearer token (%d bytes scanned)", what, len(text))
		}
	}
}

// releaseStorage is every revision of the release as Helm stores it
// (values, manifest, notes), as JSON.
func releaseStorage(t *testing.T, env *framework.Env) string {
	t.Helper()
	flags := kube.NewConfigFlags()
	flags.KubeConfig = &env.Kubeconfig
	cfg, err := helmclient.New(flags, vizNS, nil)
	if err != nil {
		t.Fatal(err)
	}
	revs, err := cfg.Releases.History("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) < 3 {
		t.Fatalf("%d revisions of the release; want install and one per remote-write add and remove", len(revs))
	}
	b, err := json.Marshal(revs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/etc/meshmon/secrets/"+tokenSecret+"/token") {
		t.Error("no revision references the token's file (a storage without the remote_write entries would prove nothing)")
	}
	return string(b)
}

// TestRemoteWrite writes the mesh's metrics from the real Prometheus to a
// real VictoriaMetrics and a real Thanos, and walks the faults a receiver
// has in order: each row breaks one thing, waits for `check` to say so, and
// repairs it.
func TestRemoteWrite(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	s := &session{env: env}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	token := "mm-e2e-secret-" + stamp
	wrongToken := "mm-e2e-wrong-secret-" + stamp

	vm := framework.StartVictoriaMetrics(t, env)
	auth := framework.StartBearerProxy(t, vm.URL, token)
	th := framework.StartThanos(t, env, framework.ThanosOptions{Receivers: 2, ReplicationFactor: 2, TenantHeader: "X-Scope-OrgID"})

	s.mustMeshmon(t, "install", "--chart", framework.TestChart(t, "prometheus"), "--cluster-name", cluster, "--scrape-interval", "1s", "--skip-check")
	framework.ServerPod(t, kc, vizNS, "prometheus")
	mesh := framework.StartFakeMesh(t, kc, "linkerd", vizNS)
	putSecret(t, kc, tokenSecret, map[string]string{"token": token})

	s.add(t, "vm", "--url", auth.URL+"/api/v1/write", "--query-url", auth.URL, "--bearer-token-secret", tokenSecret)
	s.add(t, "thanos", "--url", th.Receivers[0].WriteURL, "--tenant", tenant, "--query-url", th.QueryURL)
	s.mustMeshmon(t, "remote-write", "list")
	pod := framework.ServerPod(t, kc, vizNS, "prometheus").Name
	mesh.Refresh(t, kc)
	p := framework.StartReleasePrometheus(t, env, kc, framework.ReleasePrometheus{
		Namespace: vizNS, ConfigMap: serverName, ServiceAccount: serverName, Deployment: serverName,
		Args: framework.ServerRetentionArgs(t, kc, vizNS, serverName),
	})

	t.Run("healthy", func(t *testing.T) {
		s.mustMeshmon(t, "check", "--category", category, "--wait", "3m")
		s.waitChecks(t, time.Minute, allPass)
		since := time.Now().Add(-time.Minute)
		bearer := http.Header{"Authorization": {"Bearer " + token}}
		readBack(t, auth.URL, `request_total{cluster="`+cluster+`"}`, bearer, since)
		got := readBack(t, th.QueryURL, `request_total{cluster="`+cluster+`"}`, nil, since)
		if got.Metric["tenant_id"] != tenant {
			t.Errorf("Thanos stored the series for tenant %q, want %q (the X-Scope-OrgID header): %v", got.Metric["tenant_id"], tenant, got.Metric)
		}
		// Without the token VictoriaMetrics' proxy refuses: the check's
		// read-back above used the Secret's token.
		if _, err := framework.Query(ctxT(t), auth.URL, "up", nil); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("VictoriaMetrics answered without the token: %v", err)
		}
		// kwok serves the real Prometheus' log as the server container's.
		logs := env.Kubectl(t, "logs", "-n", vizNS, pod, "-c", serverName, "--tail", "50")
		if !strings.Contains(logs, "Server is ready to receive web requests") {
			t.Errorf("kubectl logs %s does not show the Prometheus log:\n%s", pod, logs)
		}
	})

	rows := []struct {
		name string
		// breakIt injects the fault; repair undoes it (nil: left as is).
		breakIt, repair func(t *testing.T)
		// want judges the checks after breakIt.
		want func(int, []checkResult) error
		// wait bounds want: the lag check needs the lag past 120s.
		wait time.Duration
	}{{
		name: "one Thanos receiver killed: replication keeps writes succeeding",
		breakIt: func(t *testing.T) {
			failed := `sum(prometheus_remote_storage_samples_failed_total{remote_name="thanos"}) + sum(prometheus_remote_storage_samples_retried_total{remote_name="thanos"})`
			before := promValue(t, p, failed)
			th.Receivers[1].Kill()
			killed := time.Now()
			// Receiver 0 forwards half the hashring to the dead one; with
			// replication factor 2 every series also lands on receiver 0
			// itself, and one write is the quorum.
			readBack(t, th.QueryURL, `request_total{cluster="`+cluster+`"}`, nil, killed.Add(5*time.Second))
			framework.Eventually(t, time.Minute, func() error {
				sent := promValue(t, p, `prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="thanos"}`)
				if time.Unix(int64(sent), 0).Before(killed.Add(10 * time.Second)) {
					return fmt.Errorf("the thanos queue has sent nothing newer than %s yet", time.Unix(int64(sent), 0))
				}
				return nil
			})
			if after := promValue(t, p, failed); after != before {
				t.Errorf("samples failed or retried towards Thanos with one receiver down: %v -> %v", before, after)
			}
		},
		want:   allPass,
		wait:   time.Minute,
		repair: func(t *testing.T) { th.Receivers[1].Start(t) },
	}, {
		name: "VictoriaMetrics stopped",
		breakIt: func(t *testing.T) {
			vm.Stop()
			// The precondition of the assertion, read from Prometheus itself: the vm
			// queue more than 120s behind (the check is then asked until it says so).
			framework.Eventually(t, 4*time.Minute, func() error {
				lag := promValue(t, p, `prometheus_remote_storage_highest_timestamp_in_seconds`) -
					promValue(t, p, `prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name="vm"}`)
				if lag <= 125 {
					return fmt.Errorf("the vm queue is %.0fs behind, not yet past 120s", lag)
				}
				return nil
			})
		},
		// The proxy in front answers 502 for the stopped VictoriaMetrics.
		want: failsNaming("vm", "behind", "502"),
		wait: 2 * time.Minute,
		repair: func(t *testing.T) {
			vm.Start(t)
			s.mustMeshmon(t, "check", "--category", category, "--wait", "3m")
		},
	}, {
		name: "wrong bearer token",
		breakIt: func(t *testing.T) {
			putSecret(t, kc, tokenSecret, map[string]string{"token": wrongToken})
			sync(t, p)
		},
		want: failsNaming("vm", "401"),
		wait: 2 * time.Minute,
		// Not repaired: the failed samples keep the 5-minute failure
		// ratio above 1% for minutes; this row comes last.
	}}
	for _, row := range rows {
		if !t.Run(row.name, func(t *testing.T) {
			row.breakIt(t)
			s.waitChecks(t, row.wait, row.want)
			// The failing run as users see it, for the transcript.
			s.meshmon(t, "check", "--category", category)
			if row.repair != nil {
				row.repair(t)
			}
		}) {
			break
		}
	}

	t.Run("remove", func(t *testing.T) {
		s.remove(t, "vm")
		s.remove(t, "thanos")
		list := s.mustMeshmon(t, "remote-write", "list", "-o", "json").Stdout
		if strings.Contains(list, "vm") || strings.Contains(list, "thanos") {
			t.Errorf("remote-write list after remove: %s", list)
		}
		sync(t, p)
		if code, cs := s.remoteWriteChecks(t); len(cs) != 0 {
			t.Errorf("the %s category still runs without remote write (exit %d): %v", category, code, cs)
		}
	})

	t.Run("no credential in any output or log", func(t *testing.T) {
		noSecretIn(t, "meshmon's output", s.transcript.String(), token, wrongToken)
		noSecretIn(t, "Prometheus' log", p.Logs(), token, wrongToken)
		noSecretIn(t, "the server container log", env.Kubectl(t, "logs", "-n", vizNS, framework.ServerPod(t, kc, vizNS, "prometheus").Name, "-c", serverName), token, wrongToken)
		for _, r := range append([]*framework.Proc{vm.Proc, th.Query}, th.Receivers[0].Proc, th.Receivers[1].Proc) {
			noSecretIn(t, r.Name+"'s log", r.Logs(), token, wrongToken)
		}
		noSecretIn(t, "the release storage", releaseStorage(t, env), token, wrongToken)
	})

	if path := os.Getenv("MESHMON_E2E_TRANSCRIPT"); path != "" {
		if err := os.WriteFile(path, []byte(s.transcript.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
