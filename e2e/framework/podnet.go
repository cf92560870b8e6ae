//go:build e2e

package framework

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// AddPodIP brings a (fake) pod IP to life on the network namespace's
// loopback, so a test server can play that pod for scrapes from inside the
// namespace. The address is removed when the test ends.
func AddPodIP(t testing.TB, ip string) {
	t.Helper()
	if net.ParseIP(ip) == nil {
		t.Fatalf("AddPodIP: %q is not an IP address", ip)
	}
	out, err := exec.Command("ip", "addr", "add", ip+"/32", "dev", "lo").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "File exists") || strings.Contains(string(out), "already assigned") {
			return
		}
		t.Fatalf("ip addr add %s/32 dev lo: %v: %s", ip, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", ip+"/32", "dev", "lo").Run() })
}

// LoopServer is an HTTP server bound to one address inside the namespace.
type LoopServer struct {
	Addr string
	srv  *http.Server
	once sync.Once
}

// Serve starts h on addr (host:port, a loopback or pod IP brought up with
// AddPodIP) and stops it when the test ends.
func Serve(t testing.TB, addr string, h http.Handler) *LoopServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	s := &LoopServer{Addr: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Logf("server on %s: %v", addr, err)
		}
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop closes the server; later connections are refused. Safe to call twice.
func (s *LoopServer) Stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	})
}
