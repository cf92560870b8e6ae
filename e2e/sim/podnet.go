// Package sim plays a Linkerd data plane for the local test control plane.
package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// AddPodIP brings a (fake) pod IP to life on the network namespace's
// loopback, so that a server can play that pod for scrapes from inside the
// namespace. added is false when the address was already there (loopback
// addresses always are), and then it is not the caller's to remove.
func AddPodIP(ctx context.Context, ip string) (added bool, err error) {
	addr := net.ParseIP(ip)
	if addr == nil {
		return false, fmt.Errorf("bringing up pod IP %q: not an IP address", ip)
	}
	if addr.IsLoopback() {
		return false, nil
	}
	out, err := exec.CommandContext(ctx, "ip", "addr", "add", ip+"/32", "dev", "lo").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "File exists") || strings.Contains(string(out), "already assigned") {
			return false, nil
		}
		return false, fmt.Errorf("ip addr add %s/32 dev lo: %w: %s", ip, err, strings.TrimSpace(string(out)))
	}
	return true, nil
}

// RemovePodIP takes an address that AddPodIP added off the loopback.
func RemovePodIP(ctx context.Context, ip string) error {
	out, err := exec.CommandContext(ctx, "ip", "addr", "del", ip+"/32", "dev", "lo").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip addr del %s/32 dev lo: %w: %s", ip, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LoopServer is an HTTP server bound to one address inside the namespace.
type LoopServer struct {
	Addr string

	srv  *http.Server
	done chan struct{}
	err  error // from Serve, other than a clean shutdown
	once sync.Once
	stop error
}

// Serve starts h on addr (host:port: a loopback address or a pod IP brought
// up with AddPodIP). It runs until Stop.
func Serve(addr string, h http.Handler) (*LoopServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	s := &LoopServer{Addr: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Stop closes the server; later connections are refused. It returns what
// made the server fail, if anything did. Safe to call twice.
func (s *LoopServer) Stop() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		<-s.done
		s.stop = errors.Join(s.err, err)
		if s.stop != nil {
			s.stop = fmt.Errorf("server on %s: %w", s.Addr, s.stop)
		}
	})
	return s.stop
}
