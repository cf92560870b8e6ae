package prom_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

// The canned answers in testdata/ come from the real Prometheus (Debian's 2.42 package):
//
//	go test ./pkg/prom -run TestRecordCanned -record
//
// starts it on linkerdLikeConfig (fake proxy metrics, a closed port, a federation job and a
// dropped target), restarts it on the same data, makes it fail a config reload, catches the
// 503 of /-/ready while it starts, and saves the raw bodies the unit tests replay.
var record = flag.Bool("record", false, "capture testdata/ from the real Prometheus binary")

func TestRecordCanned(t *testing.T) {
	if !*record {
		t.Skip("capturing canned answers only with -record")
	}
	ctx := context.Background()
	srv, _ := startLinkerdLike(t, promtest.Options{Args: []string{"--storage.tsdb.retention.time=2h"}})
	time.Sleep(2 * time.Second)
	srv = srv.Restart(t)
	c := newClient(t, srv.URL)
	waitScraped(t, c)

	allowQ, denyQ := prom.AuthzQueries(prom.AuthzQuery{})
	savePersistenceProbe(t, srv.URL, "query_range_persistence.json")
	fetches := []struct {
		file, path string
		args       url.Values
	}{
		{"ready.txt", "/-/ready", nil},
		{"targets.json", "/api/v1/targets", nil},
		{"config.json", "/api/v1/status/config", nil},
		{"flags.json", "/api/v1/status/flags", nil},
		{"runtimeinfo.json", "/api/v1/status/runtimeinfo", nil},
		{"buildinfo.json", "/api/v1/status/buildinfo", nil},
		{"query_authz_allow.json", "/api/v1/query", url.Values{"query": {allowQ}}},
		{"query_authz_deny.json", "/api/v1/query", url.Values{"query": {denyQ}}},
		{"query_vector.json", "/api/v1/query", url.Values{"query": {`sum by (job) (up)`}}},
		{"query_scalar.json", "/api/v1/query", url.Values{"query": {`scalar(count(up))`}}},
		{"query_empty.json", "/api/v1/query", url.Values{"query": {`up{job="nope"}`}}},
		{"query_bad_data.json", "/api/v1/query", url.Values{"query": {`sum(up`}}},
		{"federate.txt", "/federate", url.Values{"match[]": {`{job="linkerd-proxy"}`}}},
		{"notfound.txt", "/api/v1/nope", nil},
	}
	for _, f := range fetches {
		saveGET(t, srv.URL+f.path, f.args, f.file)
	}

	// A fresh data dir has nothing before the start.
	fresh, _ := startLinkerdLike(t, promtest.Options{})
	saveGET(t, fresh.URL+"/api/v1/status/runtimeinfo", nil, "runtimeinfo_fresh.json")
	savePersistenceProbe(t, fresh.URL, "query_range_persistence_empty.json")
	if err := fresh.Reload(ctx, "scrape_configs:\n- job_name: ''\n"); err == nil {
		t.Fatal("Prometheus accepted an invalid config")
	}
	saveGET(t, fresh.URL+"/api/v1/status/runtimeinfo", nil, "runtimeinfo_reload_failed.json")

	empty := promtest.Start(t, promtest.Options{Config: "global:\n  scrape_interval: 1s\n"})
	saveGET(t, empty.URL+"/api/v1/targets", nil, "targets_empty.json")

	captureNotReady(t)
}

func saveGET(t *testing.T, u string, args url.Values, file string) {
	t.Helper()
	if args != nil {
		u += "?" + args.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: HTTP %d %s (%d bytes)", file, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	if err := os.WriteFile(filepath.Join("testdata", file), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// savePersistenceProbe saves the answer to the range query that Persistence sends.
func savePersistenceProbe(t *testing.T, url, file string) {
	t.Helper()
	rec := &rangeRecorder{next: http.DefaultTransport}
	c, err := prom.New(url, prom.WithRoundTripper(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Persistence(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.body == nil {
		t.Fatal("Persistence sent no range query")
	}
	if err := os.WriteFile(filepath.Join("testdata", file), rec.body, 0o644); err != nil {
		t.Fatal(err)
	}
}

type rangeRecorder struct {
	next http.RoundTripper
	body []byte
}

func (r *rangeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/query_range") {
		return resp, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r.body = body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// captureNotReady polls /-/ready of a starting process until it answers 503.
func captureNotReady(t *testing.T) {
	bin := promtest.RequireBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := closedAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://%s/-/ready", addr))
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if err := os.WriteFile(filepath.Join("testdata", "ready_503.txt"), body, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		if resp.StatusCode == http.StatusOK {
			t.Fatal("Prometheus became ready before a 503 was seen; run again")
		}
	}
	t.Fatal("no answer from the starting Prometheus")
}
