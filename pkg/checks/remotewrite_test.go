package checks

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

const (
	rwName  = "vm"
	rwURL   = "http://vm.example:8428/api/v1/write"
	rwToken = "s3cret-token-value"
)

// Keys of healthAnswers for the remote-write queries (see prom.RemoteWriteQueries).
const (
	rwGauges  = `__name__=~"prometheus_remote_storage_queue`
	rwSent    = `rate(prometheus_remote_storage_samples_total{`
	rwFailed  = `rate(prometheus_remote_storage_samples_failed_total{`
	rwRetried = `rate(prometheus_remote_storage_samples_retried_total{`
	rwPendMin = `min_over_time(prometheus_remote_storage_samples_pending{`
	rwPendDer = `deriv(prometheus_remote_storage_samples_pending{`
)

// fakeStore is a store's query API: it answers the freshness query with the newest sample
// age, or nothing, and remembers the headers it got.
type fakeStore struct {
	mu      sync.Mutex
	age     time.Duration
	empty   bool
	headers []http.Header
}

func (s *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, r.Header.Clone())
	_ = r.ParseForm()
	if r.URL.Path != "/api/v1/query" || !strings.Contains(r.Form.Get("query"), `cluster="east"`) {
		http.NotFound(w, r)
		return
	}
	res := "[]"
	if !s.empty {
		res = fmt.Sprintf(`[{"metric":{},"value":[%d,"%d"]}]`, time.Now().Unix(), time.Now().Add(-s.age).Unix())
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, res)
}

type rwFixture struct {
	*fixture
	store  *fakeStore
	log    string
	logErr error
	logReq []*corev1.PodLogOptions
}

func queue(name string, v float64) map[string]any {
	return self(name, v, "remote_name", rwName, "url", rwURL)
}

// newRWFixture is the fixture with one healthy remote_write endpoint; mutate adjusts it
// before it is written to the release values.
func newRWFixture(t *testing.T, mutate func(*remotewrite.Endpoint)) *rwFixture {
	t.Helper()
	f := &rwFixture{fixture: newFixture(t), store: &fakeStore{age: 30 * time.Second}, log: "fake logs"}
	srv := httptest.NewServer(f.store)
	t.Cleanup(srv.Close)
	ep := remotewrite.Endpoint{Name: rwName, URL: rwURL, QueryURL: srv.URL, Headers: map[string]string{"X-Scope-OrgID": "tenant-1"}}
	if mutate != nil {
		mutate(&ep)
	}
	v, _, err := remotewrite.With(f.values, ep)
	if err != nil {
		t.Fatal(err)
	}
	f.values = v
	f.releases[0].Config = v
	f.prom.config += fmt.Sprintf("remote_write:\n- name: %s\n  url: %s\n", rwName, rwURL)
	h := f.prom.health.vectors
	h[rwGauges] = vector(
		queue("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", sampleTime-10),
		self("prometheus_remote_storage_highest_timestamp_in_seconds", sampleTime),
		queue("prometheus_remote_storage_shards_desired", 2),
		queue("prometheus_remote_storage_shards_max", 50),
		queue("prometheus_remote_storage_samples_pending", 100),
	)
	h[rwSent] = vector(queue("", 500))
	h[rwFailed] = vector(queue("", 0))
	h[rwRetried] = vector(queue("", 0))
	h[rwPendMin] = vector(queue("", 0))
	h[rwPendDer] = vector(queue("", 0))
	return f
}

func (f *rwFixture) set(key string, series ...map[string]any) {
	f.prom.health.vectors[key] = vector(series...)
}

func (f *rwFixture) gauges(sent, desired, pending float64) {
	f.set(rwGauges,
		queue("prometheus_remote_storage_queue_highest_sent_timestamp_seconds", sent),
		self("prometheus_remote_storage_highest_timestamp_in_seconds", sampleTime),
		queue("prometheus_remote_storage_shards_desired", desired),
		queue("prometheus_remote_storage_shards_max", 50),
		queue("prometheus_remote_storage_samples_pending", pending))
}

func (f *rwFixture) run() healthcheck.Results {
	f.t.Helper()
	deps := f.deps()
	deps.PodLog = func(_ context.Context, _ kubernetes.Interface, _, _ string, o *corev1.PodLogOptions) ([]byte, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.logReq = append(f.logReq, o)
		if f.logErr != nil {
			return nil, f.logErr
		}
		return []byte(f.log), nil
	}
	e := NewEnv(Options{Categories: []string{"remote-write"}}, deps)
	defer e.Close()
	cats, err := Catalog(e)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := healthcheck.Run(context.Background(), cats, healthcheck.Options{HintBaseURL: HintBaseURL, Timeout: 10 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

const (
	chkConfigured = "remote write is configured"
	chkRunning    = "the running configuration has every remote write queue"
	chkSent       = "every remote write queue has sent samples"
	chkFailures   = "remote write failures are at most 1%"
	chkLag        = "remote write is at most 120s behind"
	chkShards     = "remote write desired shards are within max_shards"
	chkPending    = "remote write pending samples are not growing"
	chkStore      = "the store has this cluster's fresh Linkerd series"
)

// log401 is how Prometheus 3 logs a non-recoverable answer of the receiver.
var log401 = `time=2026-11-22T05:09:58.123Z level=ERROR source=queue_manager.go:1680 msg="non-recoverable error" component=remote remote_name=` + rwName +
	` url=` + rwURL + ` failedSampleCount=2000 err="server returned HTTP status 401 Unauthorized: authentication required"`

func TestRemoteWritePasses(t *testing.T) {
	f := newRWFixture(t, nil)
	res := f.run()
	for _, d := range []string{chkConfigured, chkRunning, chkSent, chkFailures, chkLag, chkShards, chkPending} {
		expect(t, res, d, healthcheck.StatusSuccess)
	}
	expect(t, res, chkConfigured, healthcheck.StatusSuccess, "vm (http://vm.example:8428/api/v1/write)")
	expect(t, res, chkStore, healthcheck.StatusSuccess, "newest sample 30s old")
	if len(f.logReq) != 0 {
		t.Errorf("a healthy queue read the server log %d times; want none", len(f.logReq))
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	if len(f.store.headers) != 1 || f.store.headers[0].Get("X-Scope-OrgID") != "tenant-1" {
		t.Errorf("store got %v, want one query with X-Scope-OrgID tenant-1", f.store.headers)
	}
}

func TestRemoteWriteFails(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods/log"}, serverPod, errors.New("no"))
	for _, tc := range []struct {
		name   string
		brk    func(*rwFixture)
		check  string
		status healthcheck.Status
		want   []string
	}{
		{"not in the running config", func(f *rwFixture) { f.prom.config = promYAML(t, f.values) }, chkRunning, healthcheck.StatusError,
			[]string{"lacks remote_write queues", "vm (http://vm.example:8428/api/v1/write)"}},
		{"never sent, 401 from the log", func(f *rwFixture) { f.gauges(0, 1, 0); f.log = "other line\n" + log401 + "\n" }, chkSent, healthcheck.StatusError,
			[]string{"never sent a sample", "server returned HTTP status 401 Unauthorized", "fix the token or password in the Secret"}},
		{"no queue metrics", func(f *rwFixture) { f.set(rwGauges) }, chkSent, healthcheck.StatusError,
			[]string{"has no queue metrics"}},
		{"failure ratio", func(f *rwFixture) { f.set(rwFailed, queue("", 10)); f.set(rwSent, queue("", 90)); f.log = log401 }, chkFailures, healthcheck.StatusError,
			[]string{"10.0% of the samples failed over 5m", "PrometheusRemoteStorageFailures", "HTTP 401"}},
		{"lag, receiver down in the log", func(f *rwFixture) {
			f.gauges(sampleTime-300, 2, 100)
			f.log = `time=x level=WARN msg="Failed to send batch, retrying" component=remote remote_name=vm url=` + rwURL + ` err="Post \"` + rwURL + `\": dial tcp 10.0.0.9:8428: connect: connection refused"`
		}, chkLag, healthcheck.StatusError,
			[]string{"vm (http://vm.example:8428/api/v1/write): 300s behind", "PrometheusRemoteWriteBehind", "connection refused", "the receiver cannot be reached", "--max-shards"}},
		{"shards", func(f *rwFixture) { f.gauges(sampleTime-10, 60, 100) }, chkShards, healthcheck.StatusWarning,
			[]string{"wants 60 shards, max_shards is 50"}},
		{"pending grows", func(f *rwFixture) {
			f.gauges(sampleTime-10, 2, 5000)
			f.set(rwPendMin, queue("", 3000))
			f.set(rwPendDer, queue("", 12))
		}, chkPending, healthcheck.StatusWarning, []string{"5000 samples pending, never below 3000 over 5m, rising 12.0/s"}},
		{"pending below one batch is normal batching", func(f *rwFixture) {
			f.gauges(sampleTime-10, 2, 217)
			f.set(rwPendMin, queue("", 7))
			f.set(rwPendDer, queue("", 1.5))
		}, chkPending, healthcheck.StatusSuccess, nil},
		{"4xx from the counters", func(f *rwFixture) { f.set(rwFailed, queue("", 100)); f.set(rwSent, queue("", 0)); f.logErr = forbidden }, chkFailures, healthcheck.StatusError,
			[]string{"server log is not readable", "permission denied: cannot get pods/log", "samples_failed_total rises, a non-recoverable 4xx"}},
		{"5xx from the counters", func(f *rwFixture) {
			f.gauges(sampleTime-600, 2, 100)
			f.set(rwRetried, queue("", 50))
			f.logErr = forbidden
		}, chkLag, healthcheck.StatusError,
			[]string{"600s behind", "samples_retried_total rises, a recoverable error (5xx or 429"}},
		{"log without the queue's error", func(f *rwFixture) { f.gauges(0, 1, 0) }, chkSent, healthcheck.StatusError,
			[]string{"it has no remote-write error for this queue", "the receiver is not answering"}},
		{"store misses the series", func(f *rwFixture) { f.store.empty = true }, chkStore, healthcheck.StatusError,
			[]string{`max(timestamp(up{job=~"linkerd-.+",cluster="east"}))`, "returns nothing", "X-Scope-OrgID"}},
		{"stale series", func(f *rwFixture) { f.store.age = 10 * time.Minute }, chkStore, healthcheck.StatusError,
			[]string{"is 10m0s old, more than the lag plus two scrape intervals (30s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRWFixture(t, nil)
			tc.brk(f)
			expect(t, f.run(), tc.check, tc.status, tc.want...)
		})
	}
}

func TestRemoteWriteStoreUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	f := newRWFixture(t, func(ep *remotewrite.Endpoint) { ep.QueryURL = deadURL })
	expect(t, f.run(), chkStore, healthcheck.StatusError, "cannot be asked", "check that the store is up and --query-url is right")
}

func TestRemoteWriteStoreCredentials(t *testing.T) {
	f := newRWFixture(t, func(ep *remotewrite.Endpoint) {
		ep.BearerToken = &remotewrite.SecretKeyRef{Secret: "vm-auth", Key: "token"}
	})
	// Without the Secret: the error names it.
	res := f.run()
	expect(t, res, chkStore, healthcheck.StatusError, "Secret linkerd-viz/vm-auth does not exist")
	if _, err := f.kube.CoreV1().Secrets(vizNS).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vm-auth", Namespace: vizNS},
		Data: map[string][]byte{"token": []byte(rwToken + "\n")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.store.empty = true
	res = f.run()
	expect(t, res, chkStore, healthcheck.StatusError, "returns nothing")
	for _, c := range res.Categories {
		for _, r := range c.Checks {
			if r.Err != nil && strings.Contains(r.Err.Error(), rwToken) || strings.Contains(r.Detail, rwToken) {
				t.Errorf("%s prints the token: %v %s", r.Description, r.Err, r.Detail)
			}
		}
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	if got := f.store.headers[len(f.store.headers)-1].Get("Authorization"); got != "Bearer "+rwToken {
		t.Errorf("store got Authorization %q, want the Secret's bearer token", got)
	}
}

// Without remote write the category shows nothing and asks neither Prometheus nor the
// API server anything.
func TestRemoteWriteAbsentWithoutEntries(t *testing.T) {
	f := newFixture(t)
	before := len(f.kube.Actions())
	res := f.run(Options{Categories: []string{"remote-write"}})
	for _, c := range res.Categories {
		if c.Name != CategoryRemoteWrite {
			continue
		}
		for _, r := range c.Checks {
			if r.Status != healthcheck.StatusSkipped {
				t.Errorf("%s: %s, want skipped without remote_write", r.Description, r.Status)
			}
		}
	}
	for _, a := range f.kube.Actions()[before:] {
		// The category's own requests are a Secret get (store credentials) and pods/log.
		if a.GetVerb() == "get" && a.GetResource().Resource == "secrets" || a.GetSubresource() == "log" {
			t.Errorf("remote-write made request %s %s/%s without remote_write", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
		}
	}
	var out strings.Builder
	printer, _ := healthcheck.NewPrinter(&out, healthcheck.FormatTable, false)
	for _, c := range res.Categories {
		printer.Category(c)
	}
	if strings.Contains(out.String(), CategoryRemoteWrite) {
		t.Errorf("the category is printed without remote_write:\n%s", out.String())
	}
}

// The store's query API behind TLS with a private CA: without the endpoint's CA the
// check fails on the certificate; with --ca-secret it verifies against that CA, and
// --remote-insecure-skip-tls-verify skips verification.
func TestRemoteWriteStoreTLS(t *testing.T) {
	store := &fakeStore{age: 30 * time.Second}
	srv := httptest.NewUnstartedServer(store)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	f := newRWFixture(t, func(ep *remotewrite.Endpoint) { ep.QueryURL = srv.URL })
	expect(t, f.run(), chkStore, healthcheck.StatusError, "certificate")

	f = newRWFixture(t, func(ep *remotewrite.Endpoint) {
		ep.QueryURL = srv.URL
		ep.CA = &remotewrite.SecretKeyRef{Secret: "store-ca", Key: remotewrite.DefaultCAKey}
	})
	expect(t, f.run(), chkStore, healthcheck.StatusError, "Secret linkerd-viz/store-ca does not exist")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "store-ca", Namespace: vizNS}, Data: map[string][]byte{remotewrite.DefaultCAKey: []byte("not a certificate")}}
	if _, err := f.kube.CoreV1().Secrets(vizNS).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, f.run(), chkStore, healthcheck.StatusError, `key "ca.crt" of Secret store-ca holds no PEM certificate`)
	secret.Data[remotewrite.DefaultCAKey] = caPEM
	if _, err := f.kube.CoreV1().Secrets(vizNS).Update(context.Background(), secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, f.run(), chkStore, healthcheck.StatusSuccess)

	f = newRWFixture(t, func(ep *remotewrite.Endpoint) {
		ep.URL = strings.Replace(rwURL, "http://", "https://", 1)
		ep.QueryURL = srv.URL
		ep.InsecureSkipVerify = true
	})
	expect(t, f.run(), chkStore, healthcheck.StatusSuccess)
}
