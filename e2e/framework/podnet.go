//go:build e2e

package framework

import (
	"context"
	"net/http"
	"testing"

	"github.com/meshmon/meshmon/e2e/sim"
)

// AddPodIP brings a (fake) pod IP to life on the network namespace's
// loopback (sim.AddPodIP); the address is removed when the test ends.
func AddPodIP(t testing.TB, ip string) {
	t.Helper()
	added, err := sim.AddPodIP(context.Background(), ip)
	if err != nil {
		t.Fatal(err)
	}
	if added {
		t.Cleanup(func() {
			if err := sim.RemovePodIP(context.Background(), ip); err != nil {
				t.Log(err)
			}
		})
	}
}

// LoopServer is an HTTP server bound to one address inside the namespace.
type LoopServer = sim.LoopServer

// Serve starts h on addr (host:port, a loopback or pod IP brought up with
// AddPodIP) and stops it when the test ends.
func Serve(t testing.TB, addr string, h http.Handler) *LoopServer {
	t.Helper()
	s, err := sim.Serve(addr, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Log(err)
		}
	})
	return s
}
