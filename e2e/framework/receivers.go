//go:build e2e

package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a receiver process a test runs (VictoriaMetrics, Thanos), with
// the faults tests inject: Stop, Kill and Start again on the same ports and
// data. It ends with the test; its log is printed if the test failed.
type Proc struct {
	Name  string
	bin   string
	args  []string
	ready string // a URL that answers 200 once the process serves

	mu   sync.Mutex
	logs bytes.Buffer // every run's output
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

// Logs returns what the process wrote in all its runs.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startProc runs bin with args until the test ends.
func startProc(t testing.TB, name, bin, ready string, args ...string) *Proc {
	t.Helper()
	if bin == "" {
		t.Fatalf("no %s binary: hack/provision.sh builds it and framework.Main passes it", name)
	}
	p := &Proc{Name: name, bin: bin, args: args, ready: ready}
	t.Cleanup(func() {
		p.halt(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.Logs())
		}
	})
	p.Start(t)
	return p
}

// Start runs the process (again) and waits until it serves.
func (p *Proc) Start(t testing.TB) {
	t.Helper()
	fmt.Fprintf(p, "--- %s start %s\n", p.Name, time.Now().UTC().Format(time.RFC3339))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p, p
	// The kernel ends it should the test binary die without cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("running %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited at start:\n%s", p.Name, p.Logs())
		default:
		}
		resp, err := http.Get(p.ready)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.halt(syscall.SIGKILL)
			t.Fatalf("%s not ready at %s within a minute (last: %v):\n%s", p.Name, p.ready, err, p.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop ends the process gracefully (SIGTERM), as a rolling restart would.
func (p *Proc) Stop() { p.halt(syscall.SIGTERM) }

// Kill ends the process at once (SIGKILL), as a crash or a lost node would.
func (p *Proc) Kill() { p.halt(syscall.SIGKILL) }

func (p *Proc) halt(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// FreeAddr is a free 127.0.0.1:port in the test's network namespace.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// VictoriaMetrics is a single-node VictoriaMetrics: the remote-write
// receiver at URL+"/api/v1/write" and the Prometheus query API at URL.
type VictoriaMetrics struct {
	*Proc
	Addr, URL string
}

// StartVictoriaMetrics runs single-node VictoriaMetrics on a loopback port
// with its own data directory.
func StartVictoriaMetrics(t testing.TB, env *Env) *VictoriaMetrics {
	t.Helper()
	addr := FreeAddr(t)
	v := &VictoriaMetrics{Addr: addr, URL: "http://" + addr}
	v.Proc = startProc(t, "victoria-metrics", env.VictoriaMetrics, v.URL+"/health",
		"-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(), "-retentionPeriod=1d",
		// Samples are searchable right away rather than after the default 30s.
		"-search.latencyOffset=0s", "-search.cacheTimestampOffset=0s",
		"-memory.allowedPercent=10", "-loggerLevel=WARN")
	return v
}

// BearerProxy is a loopback reverse proxy that lets a request through to
// its upstream only with "Authorization: Bearer <token>" and answers 401
// otherwise, as vmauth does in front of a VictoriaMetrics that, alone,
// knows only Basic auth.
type BearerProxy struct {
	*LoopServer
	URL string
}

// StartBearerProxy serves the proxy to upstream on a loopback port until
// the test ends.
func StartBearerProxy(t testing.TB, upstream, token string) *BearerProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// A stopped upstream is a fault the tests inject: 502, without a log line each time.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	want := "Bearer " + token
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	})
	addr := FreeAddr(t)
	return &BearerProxy{LoopServer: Serve(t, addr, h), URL: "http://" + addr}
}

// ThanosReceiver is one `thanos receive` of a hashring.
type ThanosReceiver struct {
	*Proc
	// WriteURL takes Prometheus remote write; GRPC is its Store API and
	// hashring endpoint.
	WriteURL, GRPC string
}

// Thanos is a distributed Thanos: receivers in one hashring that replicate
// every series to ReplicationFactor of them, and a Thanos Query over all
// their Store APIs at QueryURL.
type Thanos struct {
	Receivers []*ThanosReceiver
	Query     *Proc
	QueryURL  string
}

// ThanosOptions shape the Thanos a test runs.
type ThanosOptions struct {
	Receivers, ReplicationFactor int
	// TenantHeader is the HTTP header that names the tenant
	// (--receive.tenant-header); Thanos' default is THANOS-TENANT.
	TenantHeader string
}

// StartThanos runs the receivers, each with its own data directory and
// external label replica="r<i>", and a Thanos Query that deduplicates by
// that label, all on loopback ports.
func StartThanos(t testing.TB, env *Env, o ThanosOptions) *Thanos {
	t.Helper()
	dir := t.TempDir()
	grpc := make([]string, o.Receivers)
	var eps []string
	for i := range grpc {
		grpc[i] = FreeAddr(t)
		eps = append(eps, fmt.Sprintf("%q", grpc[i]))
	}
	hashring := filepath.Join(dir, "hashring.json")
	if err := os.WriteFile(hashring, []byte(`[{"hashring": "default", "endpoints": [`+strings.Join(eps, ", ")+`]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	th := &Thanos{}
	var sd strings.Builder
	sd.WriteString("endpoints:\n")
	for i, g := range grpc {
		httpAddr, writeAddr := FreeAddr(t), FreeAddr(t)
		args := []string{"receive",
			"--grpc-address=" + g, "--http-address=" + httpAddr, "--remote-write.address=" + writeAddr,
			// Listened on although replication uses protobuf over gRPC.
			"--receive.capnproto-address=" + FreeAddr(t),
			"--tsdb.path=" + filepath.Join(dir, fmt.Sprintf("receive-%d", i)),
			fmt.Sprintf(`--label=replica="r%d"`, i),
			"--receive.hashrings-file=" + hashring, "--receive.local-endpoint=" + g,
			fmt.Sprintf("--receive.replication-factor=%d", o.ReplicationFactor),
			"--log.level=warn",
		}
		if o.TenantHeader != "" {
			args = append(args, "--receive.tenant-header="+o.TenantHeader)
		}
		p := startProc(t, fmt.Sprintf("thanos-receive-%d", i), env.Thanos, "http://"+httpAddr+"/-/ready", args...)
		th.Receivers = append(th.Receivers, &ThanosReceiver{Proc: p, WriteURL: "http://" + writeAddr + "/api/v1/receive", GRPC: g})
		fmt.Fprintf(&sd, "- address: %q\n", g)
	}
	qHTTP := FreeAddr(t)
	th.QueryURL = "http://" + qHTTP
	th.Query = startProc(t, "thanos-query", env.Thanos, th.QueryURL+"/-/ready", "query",
		"--http-address="+qHTTP, "--grpc-address="+FreeAddr(t),
		"--endpoint.sd-config="+sd.String(), "--query.replica-label=replica",
		"--log.level=warn")
	return th
}

// Query runs an instant PromQL query against a Prometheus-compatible API at
// base (VictoriaMetrics, Thanos Query) with the given headers, and returns
// the result vector's samples as label sets with their values.
func Query(ctx context.Context, base, query string, header http.Header) ([]QuerySample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string        `json:"resultType"`
			Result     []QuerySample `json:"result"`
		} `json:"data"`
	}
	if err := decodeJSON(resp, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%s: query %q: %s", base, query, out.Error)
	}
	return out.Data.Result, nil
}

// QuerySample is one element of an instant query's vector.
type QuerySample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func decodeJSON(resp *http.Response, v any) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
