package kube

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// fakeKubelet plays the API server's pods/portforward endpoint: it speaks
// the SPDY port-forward protocol (error and data stream per connection) and
// connects each data stream to backends[port].
type fakeKubelet struct {
	t        *testing.T
	backends map[string]string
	// status, when set, refuses the upgrade with that HTTP status.
	status int

	mu    sync.Mutex
	paths []string
}

func (k *fakeKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.paths = append(k.paths, r.Method+" "+r.URL.Path)
	k.mu.Unlock()
	if k.status != 0 {
		http.Error(w, `pods "x" is forbidden: User "u" cannot create resource "pods/portforward"`, k.status)
		return
	}
	if _, err := httpstream.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
		return
	}
	type pair struct{ data, errs httpstream.Stream }
	var mu sync.Mutex
	pairs := map[string]*pair{}
	handle := func(p *pair) {
		defer p.data.Close()
		defer p.errs.Close()
		port := p.data.Headers().Get("port")
		target, ok := k.backends[port]
		if !ok {
			fmt.Fprintf(p.errs, "error forwarding port %s to pod: nothing listens on port %s", port, port)
			return
		}
		conn, err := net.Dial("tcp", target)
		if err != nil {
			fmt.Fprintf(p.errs, "error forwarding port %s to pod: %v", port, err)
			return
		}
		defer conn.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(conn, p.data)
			close(done)
		}()
		_, _ = io.Copy(p.data, conn)
		<-done
	}
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, _ <-chan struct{}) error {
		id := s.Headers().Get("requestID")
		mu.Lock()
		p := pairs[id]
		if p == nil {
			p = &pair{}
			pairs[id] = p
		}
		if s.Headers().Get("streamType") == "data" {
			p.data = s
		} else {
			p.errs = s
		}
		complete := p.data != nil && p.errs != nil
		mu.Unlock()
		if complete {
			go handle(p)
		}
		return nil
	})
	if conn == nil {
		return
	}
	<-conn.CloseChan()
}

func (k *fakeKubelet) requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.paths...)
}

func pod(name string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "mon", Labels: map[string]string{"app": "prom"}},
		Status:     corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func backend(t *testing.T, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", body, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func startKubelet(t *testing.T, k *fakeKubelet, prefix string) *rest.Config {
	t.Helper()
	k.t = t
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL + prefix}
}

func get(t *testing.T, addr, path string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestPortForwardReachesTheReadyPod(t *testing.T) {
	k := &fakeKubelet{backends: map[string]string{"9090": backend(t, "prometheus")}}
	cfg := startKubelet(t, k, "/proxy/prefix")
	kc := fake.NewClientset(
		pod("a-starting", corev1.PodPending, false),
		pod("b-ready", corev1.PodRunning, true),
		pod("c-ready", corev1.PodRunning, true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := PortForward(ctx, cfg, kc, ForwardTarget{Namespace: "mon", Selector: "app=prom", Port: 9090})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if f.Pod != "b-ready" {
		t.Errorf("picked pod %q, want the first Ready pod by name, b-ready", f.Pod)
	}
	if !strings.HasPrefix(f.Addr, "127.0.0.1:") {
		t.Errorf("Addr = %q, want a loopback address", f.Addr)
	}
	for i := range 3 {
		body, err := get(t, f.Addr, fmt.Sprintf("/-/ready/%d", i))
		if err != nil {
			t.Fatalf("request %d through the port-forward: %v (last forward error: %v)", i, err, f.LastError())
		}
		if want := fmt.Sprintf("prometheus /-/ready/%d", i); body != want {
			t.Errorf("body = %q, want %q", body, want)
		}
	}
	reqs := k.requests()
	if len(reqs) == 0 || reqs[0] != "POST /proxy/prefix/api/v1/namespaces/mon/pods/b-ready/portforward" {
		t.Errorf("API requests = %q, want a POST to the pod's portforward subresource under the server's path prefix", reqs)
	}
	if err := f.LastError(); err != nil {
		t.Errorf("LastError = %v after successful requests", err)
	}

	f.Stop()
	f.Stop()
	if _, err := get(t, f.Addr, "/"); err == nil {
		t.Error("the local port still answers after Stop")
	}
}

// Candidates the caller listed are used without a list of its own; without a Ready pod among
// them the pods are listed anew.
func TestPortForwardPicksFromCandidates(t *testing.T) {
	k := &fakeKubelet{backends: map[string]string{"9090": backend(t, "prometheus")}}
	cfg := startKubelet(t, k, "")
	kc := fake.NewClientset(pod("a-ready", corev1.PodRunning, true), pod("b-ready", corev1.PodRunning, true))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name       string
		candidates []corev1.Pod
		want       string
		lists      int
	}{
		{"a Ready candidate", []corev1.Pod{*pod("z-starting", corev1.PodPending, false), *pod("c-ready", corev1.PodRunning, true), *pod("b-ready", corev1.PodRunning, true)}, "b-ready", 0},
		{"no Ready candidate", []corev1.Pod{*pod("z-starting", corev1.PodPending, false)}, "a-ready", 1},
		{"no candidates", nil, "a-ready", 1},
	} {
		kc.ClearActions()
		f, err := PortForward(ctx, cfg, kc, ForwardTarget{Namespace: "mon", Selector: "app=prom", Port: 9090, Candidates: tc.candidates})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		f.Stop()
		if f.Pod != tc.want {
			t.Errorf("%s: picked %q, want %q", tc.name, f.Pod, tc.want)
		}
		if n := len(kc.Actions()); n != tc.lists {
			t.Errorf("%s: %d API requests (%v), want %d", tc.name, n, kc.Actions(), tc.lists)
		}
	}
}

func TestPortForwardReportsAConnectionThePodRefuses(t *testing.T) {
	k := &fakeKubelet{backends: map[string]string{}}
	cfg := startKubelet(t, k, "")
	kc := fake.NewClientset(pod("p", corev1.PodRunning, true))
	f, err := PortForward(context.Background(), cfg, kc, ForwardTarget{Namespace: "mon", Selector: "app=prom", Port: 8084})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if _, err := get(t, f.Addr, "/"); err == nil {
		t.Fatal("a request to a port nothing listens on succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.LastError() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.LastError(); err == nil || !strings.Contains(err.Error(), "nothing listens on port 8084") {
		t.Errorf("LastError = %v, want the pod side's reason", err)
	}
}

func TestPortForwardErrors(t *testing.T) {
	tests := []struct {
		name   string
		pods   []*corev1.Pod
		status int
		port   int
		want   []string
	}{
		{name: "no pods", want: []string{"no pod of the Prometheus server (selector app=prom) exists in namespace mon"}},
		{
			name: "none ready",
			pods: []*corev1.Pod{pod("p1", corev1.PodPending, false), pod("p2", corev1.PodRunning, false)},
			want: []string{"no pod of the Prometheus server in namespace mon is Ready", "p1 (Pending)", "p2 (Running but not Ready)"},
		},
		{
			name: "forbidden", pods: []*corev1.Pod{pod("p", corev1.PodRunning, true)}, status: http.StatusForbidden,
			want: []string{"port-forward to pod mon/p port 9090 failed", "create pods/portforward in namespace mon"},
		},
		{name: "bad port", port: 70000, want: []string{"port 70000 is out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKubelet{status: tt.status}
			cfg := startKubelet(t, k, "")
			kc := fake.NewClientset()
			for _, p := range tt.pods {
				if _, err := kc.CoreV1().Pods("mon").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			port := tt.port
			if port == 0 {
				port = 9090
			}
			f, err := PortForward(context.Background(), cfg, kc, ForwardTarget{Namespace: "mon", Selector: "app=prom", Port: port, What: "the Prometheus server"})
			if err == nil {
				f.Stop()
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestPortForwardWithoutConfig(t *testing.T) {
	_, err := PortForward(context.Background(), nil, fake.NewClientset(), ForwardTarget{Namespace: "mon", Selector: "a=b", Port: 1})
	if err == nil || !strings.Contains(err.Error(), "REST configuration") {
		t.Errorf("err = %v", err)
	}
}
