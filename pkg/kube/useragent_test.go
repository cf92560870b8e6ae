package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Every request meshmon's clients send carries meshmon's User-Agent, so the
// API server's audit log can tell them apart.
func TestClientsSendMeshmonUserAgent(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.1"}`))
	}))
	defer srv.Close()
	kubeconfig := filepath.Join(t.TempDir(), "config")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + srv.URL +
		"\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := NewConfigFlags()
	flags.KubeConfig = &kubeconfig
	c, err := NewClients(flags)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServerVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The Helm SDK builds its clients from the same flags.
	rc, err := flags.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rc.UserAgent, "meshmon/") {
		t.Errorf("REST config the Helm SDK gets has User-Agent %q; want meshmon/…", rc.UserAgent)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) == 0 {
		t.Fatal("no request reached the server")
	}
	for _, a := range agents {
		if !strings.HasPrefix(a, "meshmon/") || !strings.Contains(a, "(") {
			t.Errorf("request with User-Agent %q; want meshmon/<version> (<os>/<arch>) <host>", a)
		}
	}
}
