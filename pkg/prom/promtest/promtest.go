// Package promtest runs the real Prometheus binary for tests.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables understood by Start.
const (
	// EnvBinary overrides the path of the prometheus binary.
	EnvBinary = "MESHMON_PROMETHEUS_BIN"
	// EnvAllowSkip=1 turns a missing binary into t.Skip instead of t.Fatal.
	EnvAllowSkip = "MESHMON_ALLOW_SKIP"
)

const (
	debianBinary        = "/usr/bin/prometheus"
	installHint         = "install the Debian package `prometheus` (apt-get update && apt-get install -y prometheus), or set " + EnvBinary
	defaultReadyTimeout = 30 * time.Second
	defaultStopGrace    = 10 * time.Second
	portAttempts        = 3
)

// Options describes one Prometheus process.
type Options struct {
	// Config is the prometheus.yml content.
	Config string
	// DataDir is the TSDB directory; empty means a fresh t.TempDir(). Pass the DataDir of a
	// stopped Server to start on the same data.
	DataDir string
	// ListenAddress is host:port to serve on; empty means a free port on 127.0.0.1.
	ListenAddress string
	// Args are extra flags, e.g. "--storage.tsdb.retention.time=1h".
	Args []string
	// ReadyTimeout bounds the wait for /-/ready (default 30s).
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL (default 10s).
	StopGrace time.Duration
}

// Server is a running Prometheus process.
type Server struct {
	URL        string // http://ListenAddress
	Addr       string // the address it listens on
	DataDir    string
	ConfigPath string
	Binary     string

	opts     Options
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error
	logs     *syncBuffer
	stopOnce sync.Once
}

// Binary locates the prometheus binary: $MESHMON_PROMETHEUS_BIN, then PATH, then /usr/bin/prometheus.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("prometheus binary from %s: %w", EnvBinary, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(debianBinary); err == nil {
		return debianBinary, nil
	}
	return "", fmt.Errorf("prometheus binary not found in PATH or at %s", debianBinary)
}

// RequireBinary returns the prometheus binary path; when it is missing the test fails with
// the install command, or is skipped with the same message if MESHMON_ALLOW_SKIP=1.
func RequireBinary(t testing.TB) string {
	t.Helper()
	p, err := Binary()
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%v: %s", err, installHint)
	if os.Getenv(EnvAllowSkip) == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// Start runs Prometheus with opts, waits until /-/ready answers 200 and registers Stop with
// t.Cleanup; the process log is printed if the test failed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := RequireBinary(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = defaultReadyTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = defaultStopGrace
	}
	cfgDir := t.TempDir()
	cfgPath := filepath.Join(cfgDir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(opts.Config), 0o600); err != nil {
		t.Fatalf("writing Prometheus config: %v", err)
	}

	// A port picked by binding :0 can be taken again before Prometheus binds it; retry then.
	var lastErr error
	for attempt := 0; attempt < portAttempts; attempt++ {
		addr := opts.ListenAddress
		if addr == "" {
			var err error
			if addr, err = freeLoopbackAddr(); err != nil {
				t.Fatalf("finding a free port for Prometheus: %v", err)
			}
		}
		s := &Server{URL: "http://" + addr, Addr: addr, DataDir: opts.DataDir, ConfigPath: cfgPath, Binary: bin, opts: opts}
		err := s.launch(cfgDir)
		if err == nil {
			t.Cleanup(func() {
				s.Stop()
				if t.Failed() {
					t.Logf("Prometheus %s log:\n%s", s.Addr, s.Logs())
				}
			})
			return s
		}
		lastErr = err
		if opts.ListenAddress != "" || !strings.Contains(s.Logs(), "address already in use") {
			break
		}
	}
	t.Fatalf("starting Prometheus: %v", lastErr)
	return nil
}

// Restart stops s and starts a new process with the same options, address and data dir.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	s.Stop()
	o := s.opts
	o.ListenAddress = s.Addr
	return Start(t, o)
}

func (s *Server) launch(dir string) error {
	args := append([]string{
		"--config.file=" + s.ConfigPath,
		"--storage.tsdb.path=" + s.DataDir,
		"--web.listen-address=" + s.Addr,
		"--web.enable-lifecycle",
	}, s.opts.Args...)
	s.logs = &syncBuffer{}
	s.done = make(chan struct{})
	s.cmd = exec.Command(s.Binary, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		close(s.done)
		return fmt.Errorf("running %s: %w", s.Binary, err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return fmt.Errorf("%w\n--- prometheus log ---\n%s", err, s.Logs())
	}
	return nil
}

func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return fmt.Errorf("building readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %q", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-s.done:
			return fmt.Errorf("prometheus at %s exited before it was ready: %v", s.Addr, s.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("prometheus at %s not ready after %s (last: %s)", s.Addr, s.opts.ReadyTimeout, last)
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM to the process, then SIGKILL after the grace period, and waits for it.
// It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(s.opts.StopGrace):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Exited reports whether the process has ended, and its exit error.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.exitErr
	default:
		return false, nil
	}
}

// PID returns the process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Logs returns everything the process wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// Reload writes config as the new configuration and asks Prometheus to reload it
// (POST /-/reload). A rejected configuration is returned as an error; Prometheus then keeps
// running the previous one and reports reloadConfigSuccess=false.
func (s *Server) Reload(ctx context.Context, config string) error {
	if err := os.WriteFile(s.ConfigPath, []byte(config), 0o600); err != nil {
		return fmt.Errorf("writing Prometheus config: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/-/reload", nil)
	if err != nil {
		return fmt.Errorf("building reload request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reloading Prometheus at %s: %w", s.Addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reloading Prometheus at %s: HTTP %d: %s", s.Addr, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
