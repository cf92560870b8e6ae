package checks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// Thresholds of the prometheus-mixin's remote-write alerts.
const (
	// maxRWFailureRatio is PrometheusRemoteStorageFailures' 1%.
	maxRWFailureRatio = 0.01
	// maxRWLag is PrometheusRemoteWriteBehind's 120 s.
	maxRWLag = 120.0
)

// rwLogTail bounds the server log read for the last remote-write error.
const (
	rwLogTailLines = 2000
	rwLogMaxBytes  = 1 << 20
)

const idRemoteWrite = "remote-write-configured"

// rwState is what the category found, read once per attempt.
type rwState struct {
	endpoints []remotewrite.Endpoint
	cluster   string
}

// RemoteWrite checks every remote_write queue of the release from Prometheus' own
// metrics, and, with a query URL, that the store has this cluster's series. Without a
// remote_write entry every check is skipped, so the category is not shown.
func RemoteWrite(e *Env) healthcheck.Category {
	needs := []string{idRemoteWrite, idPromReady}
	self := []string{idRemoteWrite, idPromSelf}
	return healthcheck.Category{
		Name: CategoryRemoteWrite,
		Checks: []healthcheck.Check{
			{ID: idRemoteWrite, Description: "remote write is configured", HintAnchor: "mm-remote-write", Fatal: true, Needs: []string{idRelease}, Run: e.checkRWConfigured},
			{Description: "the running configuration has every remote write queue", HintAnchor: "mm-remote-write-config", Retryable: true, Needs: needs, Run: fresh(e.checkRWConfig, &e.promConfig)},
			{Description: "every remote write queue has sent samples", HintAnchor: "mm-remote-write-never-sent", Retryable: true, Needs: self, Run: fresh(e.checkRWSent, &e.rwQueues)},
			{Description: "remote write failures are at most 1%", HintAnchor: "mm-remote-write-failures", Retryable: true, Needs: self, Run: fresh(e.checkRWFailures, &e.rwQueues)},
			{Description: "remote write is at most 120s behind", HintAnchor: "mm-remote-write-behind", Retryable: true, Needs: self, Run: fresh(e.checkRWLag, &e.rwQueues)},
			{Description: "remote write desired shards are within max_shards", HintAnchor: "mm-remote-write-shards", Warning: true, Needs: self, Run: e.checkRWShards},
			{Description: "remote write pending samples are not growing", HintAnchor: "mm-remote-write-pending", Warning: true, Needs: self, Run: e.checkRWPending},
			{Description: "the store has this cluster's fresh Linkerd series", HintAnchor: "mm-remote-write-store", Retryable: true, Needs: self, Run: fresh(e.checkRWStore, &e.rwQueues)},
		},
	}
}

// remoteWrite reads the endpoints from the release values the suite already read.
func (e *Env) remoteWrite(ctx context.Context) (*rwState, error) {
	return e.rw.get(ctx, func(ctx context.Context) (*rwState, error) {
		values, _, err := e.releaseValues(ctx)
		if err != nil {
			return nil, err
		}
		eps, err := remotewrite.Endpoints(values)
		if err != nil {
			return nil, fmt.Errorf("reading the remote_write entries of the release values: %w", err)
		}
		return &rwState{endpoints: eps, cluster: remotewrite.ClusterLabel(values)}, nil
	})
}

// rwQueueName names an endpoint in messages.
func rwQueueName(ep remotewrite.Endpoint) string {
	if ep.Name == "" {
		return ep.URL
	}
	return fmt.Sprintf("%s (%s)", ep.Name, ep.URL)
}

func (e *Env) checkRWConfigured(ctx context.Context) error {
	st, err := e.remoteWrite(ctx)
	if err != nil {
		return err
	}
	if len(st.endpoints) == 0 {
		return healthcheck.Skip("no remote_write entry in the release values")
	}
	var names []string
	for _, ep := range st.endpoints {
		names = append(names, "\t* "+rwQueueName(ep))
	}
	return healthcheck.Detail(strings.Join(names, "\n"))
}

func (e *Env) checkRWConfig(ctx context.Context) error {
	st, err := e.remoteWrite(ctx)
	if err != nil {
		return err
	}
	cfg, err := e.runningConfig(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for _, ep := range st.endpoints {
		found := false
		for _, r := range cfg.RemoteWrite {
			if r.URL == ep.URL && (ep.Name == "" || r.Name == ep.Name) {
				found = true
			}
		}
		if !found {
			missing = append(missing, rwQueueName(ep))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Prometheus' running configuration lacks remote_write queues the release has, so nothing is sent to them; the configuration reload may have failed (see the prometheus-health category) or the pod still runs an older ConfigMap (wait a minute, or restart %s):%s",
			e.workloadRef(ctx), bullets(missing))
	}
	return nil
}

// queues reads the queue metrics once per attempt.
func (e *Env) queues(ctx context.Context) ([]prom.RemoteQueue, error) {
	return e.rwQueues.get(ctx, func(ctx context.Context) ([]prom.RemoteQueue, error) {
		pc, err := e.Prometheus(ctx)
		if err != nil {
			return nil, err
		}
		qs, err := pc.RemoteQueues(ctx, selfSelector)
		return qs, e.promErr(err)
	})
}

// rwQueue pairs an endpoint with its queue's metrics.
type rwQueue struct {
	ep    remotewrite.Endpoint
	q     prom.RemoteQueue
	found bool
}

func (e *Env) rwQueueList(ctx context.Context) ([]rwQueue, error) {
	st, err := e.remoteWrite(ctx)
	if err != nil {
		return nil, err
	}
	qs, err := e.queues(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]rwQueue, 0, len(st.endpoints))
	for _, ep := range st.endpoints {
		r := rwQueue{ep: ep}
		for _, q := range qs {
			if (ep.Name != "" && q.RemoteName == ep.Name) || (ep.Name == "" && q.URL == ep.URL) {
				r.q, r.found = q, q.Reported
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (e *Env) checkRWSent(ctx context.Context) error {
	qs, err := e.rwQueueList(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range qs {
		switch {
		case !r.found:
			bad = append(bad, fmt.Sprintf("%s: Prometheus has no queue metrics for it (%s{remote_name=%q} is missing)", rwQueueName(r.ep), prom.MetricRWHighestSent, r.ep.Name))
		case r.q.HighestSent == 0:
			bad = append(bad, fmt.Sprintf("%s: never sent a sample (%s is 0); %s", rwQueueName(r.ep), prom.MetricRWHighestSent, e.lastFailure(ctx, r)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("remote write queues have sent nothing, so the store has none of this cluster's metrics:%s", allBullets(bad))
	}
	return nil
}

func (e *Env) checkRWFailures(ctx context.Context) error {
	qs, err := e.rwQueueList(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range qs {
		if r.found && r.q.FailureRatio() > maxRWFailureRatio {
			bad = append(bad, fmt.Sprintf("%s: %.1f%% of the samples failed over %s (%.1f/s failed, %.1f/s sent); %s",
				rwQueueName(r.ep), 100*r.q.FailureRatio(), prom.RemoteWriteWindow, r.q.FailedRate, r.q.SentRate, e.lastFailure(ctx, r)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("remote write drops samples (more than the prometheus-mixin's 1%% of PrometheusRemoteStorageFailures):%s", allBullets(bad))
	}
	return nil
}

func (e *Env) checkRWLag(ctx context.Context) error {
	qs, err := e.rwQueueList(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range qs {
		if r.found && r.q.Lag() > maxRWLag {
			bad = append(bad, fmt.Sprintf("%s: %.0fs behind; %s", rwQueueName(r.ep), r.q.Lag(), e.lastFailure(ctx, r)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("remote write is behind by more than the prometheus-mixin's 120s of PrometheusRemoteWriteBehind; the receiver is slow or down, or the queue needs more shards (meshmon remote-write add NAME --max-shards N --capacity N):%s", allBullets(bad))
	}
	return nil
}

func (e *Env) checkRWShards(ctx context.Context) error {
	qs, err := e.rwQueueList(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range qs {
		if r.found && r.q.ShardsMax > 0 && r.q.ShardsDesired > r.q.ShardsMax {
			bad = append(bad, fmt.Sprintf("%s: wants %.0f shards, max_shards is %.0f", rwQueueName(r.ep), r.q.ShardsDesired, r.q.ShardsMax))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("remote write queues want more shards than they may run, so they fall behind; raise --max-shards (meshmon remote-write add NAME --max-shards N) or check the receiver's latency:%s", allBullets(bad))
	}
	return nil
}

func (e *Env) checkRWPending(ctx context.Context) error {
	qs, err := e.rwQueueList(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range qs {
		if r.found && r.q.PendingGrowing() {
			bad = append(bad, fmt.Sprintf("%s: %.0f samples pending, never below %.0f over %s, rising %.1f/s", rwQueueName(r.ep), r.q.Pending, r.q.PendingMin, prom.RemoteWriteWindow, r.q.PendingDeriv))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("remote write backlogs are growing: the receiver takes samples slower than Prometheus appends them; raise --capacity/--max-shards or the receiver's capacity:%s", allBullets(bad))
	}
	return nil
}

// lastFailure names the last failure of a queue: from the server's log when it can be
// read (one bounded pods/log request per run), else the class the counters show.
func (e *Env) lastFailure(ctx context.Context, r rwQueue) string {
	log, logErr := e.serverLog(ctx)
	if logErr == nil {
		if f, ok := prom.LastRemoteWriteFailure(log, r.q.RemoteName, r.ep.URL); ok {
			return fmt.Sprintf("last error (server log): %s; %s", f.Err, rwFix(f.Status, f.Err))
		}
		logErr = errors.New("it has no remote-write error for this queue")
	}
	why := fmt.Sprintf("the server log is not readable (%v), so the class is from the counters", logErr)
	switch {
	case r.q.FailedRate > 0:
		return why + ": samples_failed_total rises, a non-recoverable 4xx answer (401/403: fix the credentials Secret; 404: fix the URL; 400: the receiver rejects the samples)"
	case r.q.RetriedRate > 0:
		return why + ": samples_retried_total rises, a recoverable error (5xx or 429: the receiver is down, overloaded or rate-limits; for 429 send less with --keep or raise the tenant's limit)"
	}
	return why + ": neither failed nor retried samples rise, so the receiver is not answering (unreachable URL, DNS or network policy) or the queue has not started"
}

// rwFix names the fix for a logged failure.
func rwFix(status int, msg string) string {
	switch {
	case status == 401 || status == 403:
		return fmt.Sprintf("HTTP %d: the receiver rejects the credentials; fix the token or password in the Secret the endpoint references", status)
	case status == 404:
		return "HTTP 404: the URL is not the receiver's write path; fix --url"
	case status == 429:
		return "HTTP 429: the receiver rate-limits this tenant; send fewer series (--keep linkerd or a narrower selector) or raise the tenant's limit"
	case status >= 500:
		return fmt.Sprintf("HTTP %d: the receiver is failing; check its health and capacity", status)
	case status >= 400:
		return fmt.Sprintf("HTTP %d: the receiver rejects the samples; see its log", status)
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") || strings.Contains(msg, "timeout"):
		return "the receiver cannot be reached: check that it runs and that the URL is right"
	}
	return "see the receiver's log"
}

// serverLog reads the tail of the Prometheus container's log of one server pod, once.
func (e *Env) serverLog(ctx context.Context) ([]byte, error) {
	return e.rwLog.get(ctx, func(ctx context.Context) ([]byte, error) {
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		pods, err := e.ServerPods(ctx)
		if err != nil {
			return nil, err
		}
		var pod *corev1.Pod
		for i := range pods {
			if pods[i].Status.Phase == corev1.PodRunning {
				pod = &pods[i]
			}
		}
		if pod == nil {
			return nil, errors.New("no running server pod")
		}
		tail, limit := int64(rwLogTailLines), int64(rwLogMaxBytes)
		container := ""
		if w, err := e.serverWorkload(ctx); err == nil {
			if c, ok := promContainer(w); ok {
				container = c.Name
			}
		}
		b, err := e.deps.PodLog(ctx, kc, pod.Namespace, pod.Name, &corev1.PodLogOptions{Container: container, TailLines: &tail, LimitBytes: &limit})
		if err != nil {
			return nil, kube.ExplainAPIError("get", "pods/log", pod.Namespace, pod.Name, err)
		}
		if len(b) == 0 {
			return nil, errors.New("the log is empty")
		}
		return b, nil
	})
}

func (e *Env) checkRWStore(ctx context.Context) error {
	st, err := e.remoteWrite(ctx)
	if err != nil {
		return err
	}
	var with []remotewrite.Endpoint
	for _, ep := range st.endpoints {
		if ep.QueryURL != "" {
			with = append(with, ep)
		}
	}
	if len(with) == 0 {
		return healthcheck.Skip("no remote_write endpoint has a query URL")
	}
	if st.cluster == "" {
		return fmt.Errorf("the release has no external label %q, so the store's series of this cluster cannot be found; set one with meshmon remote-write add --cluster-name NAME", clusterLabel)
	}
	qs, err := e.rwQueueList(ctx)
	if err != nil {
		return err
	}
	interval := time.Minute
	if cfg, err := e.runningConfig(ctx); err == nil && cfg.Global.ScrapeInterval > 0 {
		interval = time.Duration(cfg.Global.ScrapeInterval)
	}
	var bad, ok []string
	for _, ep := range with {
		lag := 0.0
		for _, r := range qs {
			if r.ep.Name == ep.Name && r.ep.URL == ep.URL {
				lag = r.q.Lag()
			}
		}
		maxAge := time.Duration(lag*float64(time.Second)) + 2*interval
		at, found, err := e.storeNewest(ctx, ep, st.cluster)
		q := prom.StoreFreshnessQuery(clusterLabel, st.cluster)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: the store's query API cannot be asked: %v; check that the store is up and --query-url is right", rwQueueName(ep), err))
		case !found:
			bad = append(bad, fmt.Sprintf("%s: %s at %s returns nothing: the store has no recent Linkerd series of cluster %q; check the queue checks above, the tenant (X-Scope-OrgID) and that --keep keeps the Linkerd jobs' up series", rwQueueName(ep), q, ep.QueryURL, st.cluster))
		default:
			age := time.Since(at).Truncate(time.Second)
			if age > maxAge {
				bad = append(bad, fmt.Sprintf("%s: the newest sample of %s at the store is %s old, more than the lag plus two scrape intervals (%s); the samples are not arriving", rwQueueName(ep), q, age, maxAge.Truncate(time.Second)))
			} else {
				ok = append(ok, fmt.Sprintf("\t* %s: newest sample %s old", rwQueueName(ep), max(age, 0)))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the store does not have this cluster's fresh metrics:%s", allBullets(bad))
	}
	return healthcheck.Detail(strings.Join(ok, "\n"))
}

// storeNewest asks the store's query API, from this machine, with the endpoint's
// headers, credentials and TLS settings (read from their Secrets for this request only).
func (e *Env) storeNewest(ctx context.Context, ep remotewrite.Endpoint, cluster string) (time.Time, bool, error) {
	rt, err := e.storeTransport(ctx, ep)
	if err != nil {
		return time.Time{}, false, err
	}
	opts := []prom.Option{prom.WithRoundTripper(rt)}
	for k, v := range ep.Headers {
		opts = append(opts, prom.WithHeader(k, v))
	}
	auth, err := e.storeAuth(ctx, ep)
	if err != nil {
		return time.Time{}, false, err
	}
	if auth != "" {
		opts = append(opts, prom.WithHeader("Authorization", auth))
	}
	c, err := prom.New(ep.QueryURL, opts...)
	if err != nil {
		return time.Time{}, false, err
	}
	return c.NewestSample(ctx, clusterLabel, cluster)
}

// storeSecret reads one key of a Secret in Prometheus' namespace, the one the endpoint's
// mount refers to; errors name the Secret and key, never a value.
func (e *Env) storeSecret(ctx context.Context, name, key string) ([]byte, error) {
	kc, err := e.kube(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := e.promNamespace(ctx)
	if err != nil {
		return nil, err
	}
	s, err := kc.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the endpoint's Secret %s/%s does not exist", ns, name)
		}
		return nil, kube.ExplainAPIError("get", "secrets", ns, name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, key)
	}
	return v, nil
}

// storeAuth is the Authorization header value for the endpoint's credentials.
func (e *Env) storeAuth(ctx context.Context, ep remotewrite.Endpoint) (string, error) {
	switch {
	case ep.BearerToken != nil:
		t, err := e.storeSecret(ctx, ep.BearerToken.Secret, ep.BearerToken.Key)
		if err != nil {
			return "", err
		}
		return "Bearer " + strings.TrimSpace(string(t)), nil
	case ep.BasicAuth != nil:
		u, err := e.storeSecret(ctx, *ep.BasicAuth, remotewrite.UsernameKey)
		if err != nil {
			return "", err
		}
		p, err := e.storeSecret(ctx, *ep.BasicAuth, remotewrite.PasswordKey)
		if err != nil {
			return "", err
		}
		return basicAuth(strings.TrimSpace(string(u)), strings.TrimSpace(string(p))), nil
	}
	return "", nil
}

// storeTransport is the check's transport, given the endpoint's CA, client certificate
// and --remote-insecure-skip-tls-verify when it has any: the store's query API is
// usually behind the same TLS as its write API. A transport that is not an
// *http.Transport (a test's) is used as it is.
func (e *Env) storeTransport(ctx context.Context, ep remotewrite.Endpoint) (http.RoundTripper, error) {
	base, ok := e.deps.Transport.(*http.Transport)
	if !ok || (ep.CA == nil && ep.ClientCert == nil && !ep.InsecureSkipVerify) {
		return e.deps.Transport, nil
	}
	tr := base.Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	cfg.InsecureSkipVerify = ep.InsecureSkipVerify //nolint:gosec // the user asked for it with --remote-insecure-skip-tls-verify
	if ep.CA != nil {
		pem, err := e.storeSecret(ctx, ep.CA.Secret, ep.CA.Key)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("key %q of Secret %s holds no PEM certificate; give --ca-secret the Secret of the store's CA", ep.CA.Key, ep.CA.Secret)
		}
		cfg.RootCAs = pool
	}
	if ep.ClientCert != nil {
		crt, err := e.storeSecret(ctx, *ep.ClientCert, remotewrite.CertKey)
		if err != nil {
			return nil, err
		}
		key, err := e.storeSecret(ctx, *ep.ClientCert, remotewrite.KeyKey)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(crt, key)
		if err != nil {
			return nil, fmt.Errorf("the client certificate in Secret %s is not a valid %s/%s pair; recreate it with kubectl create secret tls", *ep.ClientCert, remotewrite.CertKey, remotewrite.KeyKey)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}
