package promtest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

const minimalConfig = "global:\n  scrape_interval: 1s\n"

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestStartStopRestart(t *testing.T) {
	srv := promtest.Start(t, promtest.Options{Config: minimalConfig, Args: []string{"--storage.tsdb.retention.time=1h"}})
	if code, body := get(t, srv.URL+"/-/ready"); code != http.StatusOK {
		t.Fatalf("ready = %d %q", code, body)
	}
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") || srv.URL != "http://"+srv.Addr || srv.PID() <= 0 {
		t.Errorf("server = %+v", srv)
	}
	if _, body := get(t, srv.URL+"/api/v1/status/flags"); !strings.Contains(body, `"storage.tsdb.retention.time":"1h"`) || !strings.Contains(body, `"web.enable-lifecycle":"true"`) {
		t.Errorf("flags not passed through: %s", body)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, "wal")); err != nil {
		t.Errorf("no WAL in the data dir: %v", err)
	}
	firstPID := srv.PID()

	srv.Stop()
	if exited, err := srv.Exited(); !exited || err != nil {
		t.Errorf("after Stop: exited=%v err=%v (SIGTERM should end it cleanly)", exited, err)
	}
	if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", srv.Addr)
	}
	srv.Stop() // idempotent

	again := srv.Restart(t)
	if again.DataDir != srv.DataDir || again.Addr != srv.Addr || again.PID() == firstPID {
		t.Errorf("restart = %+v, want same dir and address, new process", again)
	}
	if code, _ := get(t, again.URL+"/-/ready"); code != http.StatusOK {
		t.Errorf("restarted server not ready: %d", code)
	}
	if !strings.Contains(again.Logs(), "Server is ready to receive web requests") {
		t.Errorf("logs not captured: %q", again.Logs())
	}
}

func TestStartOnGivenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := promtest.Start(t, promtest.Options{Config: minimalConfig, ListenAddress: addr})
	if srv.Addr != addr {
		t.Errorf("Addr = %s, want %s", srv.Addr, addr)
	}
	if code, _ := get(t, "http://"+addr+"/-/ready"); code != http.StatusOK {
		t.Errorf("ready = %d", code)
	}
}

func TestReload(t *testing.T) {
	srv := promtest.Start(t, promtest.Options{Config: minimalConfig})
	ctx := context.Background()
	if err := srv.Reload(ctx, "scrape_configs:\n- job_name: x\n  static_configs: [{targets: ['127.0.0.1:1']}]\n"); err != nil {
		t.Fatalf("valid reload: %v", err)
	}
	if _, body := get(t, srv.URL+"/api/v1/status/config"); !strings.Contains(body, "job_name: x") {
		t.Errorf("config after reload: %s", body)
	}
	err := srv.Reload(ctx, "scrape_configs: [{job_name: ''}]\n")
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("invalid reload: %v", err)
	}
}

// fakeTB records Fatal and Skip instead of ending the real test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msg     string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) end(skip bool, msg string) {
	f.mu.Lock()
	f.failed, f.skipped, f.msg = !skip, skip, msg
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any)                 { f.end(false, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.end(false, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Skip(args ...any)                  { f.end(true, fmt.Sprint(args...)) }
func (f *fakeTB) Failed() bool                      { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }

func run(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(promtest.EnvBinary, filepath.Join(t.TempDir(), "no-prometheus"))
	t.Setenv(promtest.EnvAllowSkip, "")
	f := run(t, func(tb testing.TB) { promtest.Start(tb, promtest.Options{Config: minimalConfig}) })
	if !f.failed || !strings.Contains(f.msg, "apt-get install -y prometheus") || !strings.Contains(f.msg, "`prometheus`") {
		t.Errorf("missing binary: failed=%v msg=%q", f.failed, f.msg)
	}
	t.Setenv(promtest.EnvAllowSkip, "1")
	f = run(t, func(tb testing.TB) { promtest.Start(tb, promtest.Options{Config: minimalConfig}) })
	if !f.skipped || f.failed || !strings.Contains(f.msg, "apt-get install -y prometheus") {
		t.Errorf("missing binary with %s=1: skipped=%v msg=%q", promtest.EnvAllowSkip, f.skipped, f.msg)
	}
}

func TestBadConfigFailsWithLog(t *testing.T) {
	f := run(t, func(tb testing.TB) {
		promtest.Start(tb, promtest.Options{Config: "scrape_configs: [{job_name: ''}]\n", ReadyTimeout: 10 * time.Second})
	})
	if !f.failed || !strings.Contains(f.msg, "exited before it was ready") || !strings.Contains(f.msg, "Error loading config") {
		t.Errorf("bad config: failed=%v msg=%q", f.failed, f.msg)
	}
}

func TestAddressInUseFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := run(t, func(tb testing.TB) {
		promtest.Start(tb, promtest.Options{Config: minimalConfig, ListenAddress: l.Addr().String()})
	})
	if !f.failed || !strings.Contains(f.msg, "address already in use") {
		t.Errorf("busy address: failed=%v msg=%q", f.failed, f.msg)
	}
}

func TestRunOwnsItsDirectories(t *testing.T) {
	bin := promtest.RequireBinary(t)
	var out syncWriter
	ctx := context.Background()
	srv, err := promtest.Run(ctx, promtest.Options{Config: minimalConfig, Binary: bin, Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if code, _ := get(t, srv.URL+"/-/ready"); code != http.StatusOK {
		t.Fatalf("ready = %d", code)
	}
	if !strings.Contains(out.String(), "Server is ready to receive web requests") {
		t.Errorf("Output did not receive the process log: %q", out.String())
	}
	marker := filepath.Join(srv.DataDir, "marker")
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	again, err := srv.Relaunch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	select {
	case <-srv.Done():
	default:
		t.Error("the first process still runs after Relaunch")
	}
	srv.Stop() // the data now belongs to the new process
	if again.DataDir != srv.DataDir || again.Addr != srv.Addr {
		t.Errorf("relaunched on %s %s, want %s %s", again.DataDir, again.Addr, srv.DataDir, srv.Addr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("data lost across Relaunch: %v", err)
	}

	again.Stop()
	for _, dir := range []string{again.DataDir, filepath.Dir(again.ConfigPath)} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s left behind after Stop: %v", dir, err)
		}
	}
}

func TestRunKeepsGivenDataDir(t *testing.T) {
	dir := t.TempDir()
	srv, err := promtest.Run(context.Background(), promtest.Options{Config: minimalConfig, Binary: promtest.RequireBinary(t), DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := os.Stat(filepath.Join(dir, "wal")); err != nil {
		t.Errorf("Stop removed a data dir it was given: %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	t.Setenv(promtest.EnvBinary, filepath.Join(t.TempDir(), "no-prometheus"))
	if _, err := promtest.Run(context.Background(), promtest.Options{Config: minimalConfig}); err == nil || !strings.Contains(err.Error(), "apt-get install -y prometheus") {
		t.Errorf("missing binary: %v", err)
	}
	t.Setenv(promtest.EnvBinary, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := promtest.Run(ctx, promtest.Options{Config: minimalConfig, Binary: promtest.RequireBinary(t)})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("cancelled start: %v", err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
