// Package promtest runs the real Prometheus binary for tests.
package promtest

import (
	"bytes"
	"context"
	"errors"
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
	// Binary is the prometheus executable; empty means Binary().
	Binary string
	// DataDir is the TSDB directory; empty means a fresh one: t.TempDir() for Start, and for
	// Run a temporary directory that Stop removes (Restart keeps it). Pass the DataDir of a
	// stopped Server to start on the same data.
	DataDir string
	// ListenAddress is host:port to serve on; empty means a free port on 127.0.0.1.
	ListenAddress string
	// Args are extra flags, e.g. "--storage.tsdb.retention.time=1h".
	Args []string
	// Output, when set, also receives everything the process writes (Logs has it too).
	Output io.Writer
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
	cfgDir   string
	ownsData bool // DataDir was made by Run, so Stop removes it
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

// Start runs Prometheus with opts (see Run), fails the test if it does not become ready, and
// registers Stop with t.Cleanup; the process log is printed if the test failed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Binary == "" {
		opts.Binary = RequireBinary(t)
	}
	if opts.DataDir == "" {
		// Outlives Stop, like a volume outlives its pod.
		opts.DataDir = t.TempDir()
	}
	return track(t, func() (*Server, error) { return Run(context.Background(), opts) })
}

// track starts a server with start and ties it to the test.
func track(t testing.TB, start func() (*Server, error)) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("Prometheus %s log:\n%s", s.Addr, s.Logs())
		}
	})
	return s
}

// Run starts Prometheus with opts and waits until /-/ready answers 200. ctx bounds only the
// start; the process runs until Stop, which the caller must call.
func Run(ctx context.Context, opts Options) (*Server, error) {
	return run(ctx, opts, false)
}

func run(ctx context.Context, opts Options, ownsData bool) (*Server, error) {
	if opts.Binary == "" {
		bin, err := Binary()
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, installHint)
		}
		opts.Binary = bin
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = defaultReadyTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = defaultStopGrace
	}
	if opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "promtest-data-")
		if err != nil {
			return nil, fmt.Errorf("creating Prometheus' data directory: %w", err)
		}
		opts.DataDir, ownsData = dir, true
	}
	cfgDir, err := os.MkdirTemp("", "promtest-config-")
	if err != nil {
		return nil, fmt.Errorf("creating Prometheus' config directory: %w", err)
	}
	removeDirs := func() {
		_ = os.RemoveAll(cfgDir)
		if ownsData {
			_ = os.RemoveAll(opts.DataDir)
		}
	}
	cfgPath := filepath.Join(cfgDir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(opts.Config), 0o600); err != nil {
		removeDirs()
		return nil, fmt.Errorf("writing Prometheus config: %w", err)
	}

	// A port picked by binding :0 can be taken again before Prometheus binds it; retry then.
	var lastErr error
	for attempt := 0; attempt < portAttempts; attempt++ {
		addr := opts.ListenAddress
		if addr == "" {
			if addr, err = freeLoopbackAddr(); err != nil {
				removeDirs()
				return nil, fmt.Errorf("finding a free port for Prometheus: %w", err)
			}
		}
		s := &Server{URL: "http://" + addr, Addr: addr, DataDir: opts.DataDir, ConfigPath: cfgPath, Binary: opts.Binary,
			opts: opts, cfgDir: cfgDir, ownsData: ownsData}
		err := s.launch(ctx)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if opts.ListenAddress != "" || !strings.Contains(s.Logs(), "address already in use") {
			break
		}
	}
	removeDirs()
	return nil, fmt.Errorf("starting Prometheus: %w", lastErr)
}

// Restart stops s and starts a new process with the same options, address and data dir.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	return track(t, func() (*Server, error) { return s.Relaunch(context.Background()) })
}

// Relaunch stops s and starts a new process with the same options, address and data dir,
// which the new Server then owns.
func (s *Server) Relaunch(ctx context.Context) (*Server, error) {
	s.halt()
	_ = os.RemoveAll(s.cfgDir)
	o := s.opts
	o.ListenAddress = s.Addr
	owns := s.ownsData
	s.ownsData = false // the new process owns the data now; stopping s again must keep it
	return run(ctx, o, owns)
}

func (s *Server) launch(ctx context.Context) error {
	args := append([]string{
		"--config.file=" + s.ConfigPath,
		"--storage.tsdb.path=" + s.DataDir,
		"--web.listen-address=" + s.Addr,
		"--web.enable-lifecycle",
	}, s.opts.Args...)
	s.logs = &syncBuffer{}
	var out io.Writer = s.logs
	if s.opts.Output != nil {
		out = io.MultiWriter(s.logs, s.opts.Output)
	}
	s.done = make(chan struct{})
	s.cmd = exec.Command(s.Binary, args...)
	s.cmd.Dir = s.cfgDir
	s.cmd.Stdout = out
	s.cmd.Stderr = out
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		close(s.done)
		return fmt.Errorf("running %s: %w", s.Binary, err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.halt()
		return fmt.Errorf("%w\n--- prometheus log ---\n%s", err, s.Logs())
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return fmt.Errorf("building readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
			_ = resp.Body.Close() // read already; a close error changes nothing
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
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("prometheus at %s not ready after %s (last: %s)", s.Addr, s.opts.ReadyTimeout, last)
			}
			return fmt.Errorf("waiting for prometheus at %s: %w", s.Addr, ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM to the process, then SIGKILL after the grace period, waits for it, and
// removes the directories Run created. It is safe to call more than once.
func (s *Server) Stop() {
	s.halt()
	_ = os.RemoveAll(s.cfgDir)
	if s.ownsData {
		_ = os.RemoveAll(s.DataDir)
	}
}

// halt ends the process and keeps every directory.
func (s *Server) halt() {
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

// Done is closed when the process has ended.
func (s *Server) Done() <-chan struct{} { return s.done }

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
	defer func() { _ = resp.Body.Close() }()
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
