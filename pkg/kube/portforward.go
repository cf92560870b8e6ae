package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"
)

// ForwardTarget says which pod port to forward to.
type ForwardTarget struct {
	Namespace string
	// Selector is a label selector; one Ready pod matching it is picked.
	Selector string
	// Port is the pod's (container's) port number.
	Port int
	// What names the target in error messages, e.g. "the Prometheus server".
	What string
	// Candidates, when the caller has just listed the pods matching Selector, saves the
	// list: the pod is picked from them. Without a Ready one among them, the pods are
	// listed anew (the caller's list may be older than a pod that became Ready since).
	Candidates []corev1.Pod
}

func (t ForwardTarget) what() string {
	if t.What != "" {
		return t.What
	}
	return fmt.Sprintf("pods matching %q", t.Selector)
}

// Forward is a running port-forward from a loopback port to one pod.
type Forward struct {
	// Addr is the local end, 127.0.0.1:<port>.
	Addr      string
	Namespace string
	Pod       string
	Port      int

	cancel context.CancelFunc
	done   chan struct{}
	errs   *errorSink
	once   sync.Once
}

// Stop ends the port-forward and waits until its listener is closed. It is
// safe to call more than once.
func (f *Forward) Stop() {
	f.once.Do(func() {
		f.cancel()
		<-f.done
	})
}

// LastError is the most recent failure to carry a connection through to
// the pod (for example, nothing listens on the port in the pod), or nil.
// A client that sees its connection drop asks this for the reason.
func (f *Forward) LastError() error {
	return f.errs.last()
}

// PortForward forwards a free port on 127.0.0.1 to t.Port of a Ready pod
// matching t.Selector, through the API server (SPDY, like kubectl
// port-forward). It makes one list call to pick the pod. ctx bounds only the
// setup; the forward runs until Stop.
func PortForward(ctx context.Context, cfg *rest.Config, kc kubernetes.Interface, t ForwardTarget) (*Forward, error) {
	if cfg == nil {
		return nil, errors.New("port-forward needs a Kubernetes REST configuration, and none was given")
	}
	if t.Port < 1 || t.Port > 65535 {
		return nil, fmt.Errorf("port-forward to %s: port %d is out of range 1-65535", t.what(), t.Port)
	}
	pod, err := pickReadyPod(ctx, kc, t)
	if err != nil {
		return nil, err
	}
	u, err := portForwardURL(cfg, t.Namespace, pod)
	if err != nil {
		return nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: building the SPDY transport: %w", t.Namespace, pod, err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)

	errs := &errorSink{}
	// client-go reports per-connection failures through the context's
	// logger; capturing them keeps them off the user's terminal and lets
	// callers explain a dropped connection.
	fwdCtx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.New(errs)))
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(fwdCtx, dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(t.Port)}, ready, io.Discard, errs)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: %w", t.Namespace, pod, t.Port, err)
	}
	f := &Forward{Namespace: t.Namespace, Pod: pod, Port: t.Port, cancel: cancel, done: make(chan struct{}), errs: errs}
	failed := make(chan error, 1)
	go func() {
		defer close(f.done)
		if err := fw.ForwardPorts(); err != nil {
			failed <- err
		}
	}()
	select {
	case <-ready:
	case err := <-failed:
		cancel()
		return nil, forwardError(t, pod, err)
	case <-ctx.Done():
		f.Stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: not established in time: %w", t.Namespace, pod, t.Port, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		f.Stop()
		return nil, fmt.Errorf("port-forward to pod %s/%s port %d: no local port was opened: %v", t.Namespace, pod, t.Port, err)
	}
	f.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
	return f, nil
}

func forwardError(t ForwardTarget, pod string, err error) error {
	msg := err.Error()
	hint := "check that the API server can reach the node's kubelet and that the pod is still running"
	switch {
	case strings.Contains(msg, "forbidden") || strings.Contains(msg, "Forbidden"):
		hint = fmt.Sprintf("you need permission to create pods/portforward in namespace %s (kubectl auth can-i create pods/portforward -n %s)", t.Namespace, t.Namespace)
	case strings.Contains(msg, "Unable to listen"):
		hint = "no local port on 127.0.0.1 could be opened"
	}
	return fmt.Errorf("port-forward to pod %s/%s port %d failed: %w; %s", t.Namespace, pod, t.Port, err, hint)
}

// pickReadyPod lists the pods matching t.Selector once and picks the first
// Ready one by name, so repeated runs reach the same pod.
func pickReadyPod(ctx context.Context, kc kubernetes.Interface, t ForwardTarget) (string, error) {
	if name, ok := firstReady(t.Candidates); ok {
		return name, nil
	}
	pods, err := kc.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: t.Selector})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return "", fmt.Errorf("listing pods (%s) in namespace %s for a port-forward to %s: %w; you need permission to list pods there", t.Selector, t.Namespace, t.what(), err)
		}
		return "", fmt.Errorf("listing pods (%s) in namespace %s for a port-forward to %s: %w", t.Selector, t.Namespace, t.what(), err)
	}
	if len(pods.Items) == 0 {
		return "", fmt.Errorf("no pod of %s (selector %s) exists in namespace %s, so there is nothing to port-forward to", t.what(), t.Selector, t.Namespace)
	}
	if name, ok := firstReady(pods.Items); ok {
		return name, nil
	}
	items := slices.Clone(pods.Items)
	slices.SortFunc(items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	var states []string
	for i := range items {
		states = append(states, items[i].Name+" ("+PodState(&items[i])+")")
	}
	return "", fmt.Errorf("no pod of %s in namespace %s is Ready, so there is nothing to port-forward to: %s; wait for it (--wait) or look at kubectl describe pod -n %s",
		t.what(), t.Namespace, strings.Join(states, ", "), t.Namespace)
}

// firstReady is the first Ready pod by name, so repeated runs reach the same pod.
func firstReady(pods []corev1.Pod) (string, bool) {
	name := ""
	for i := range pods {
		if PodReady(&pods[i]) && (name == "" || pods[i].Name < name) {
			name = pods[i].Name
		}
	}
	return name, name != ""
}

// PodReady reports whether a pod is running, not being deleted, and Ready.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodState describes why a pod is (not) usable, for messages.
func PodState(p *corev1.Pod) string {
	switch {
	case p.DeletionTimestamp != nil:
		return "terminating"
	case p.Status.Phase != corev1.PodRunning:
		if p.Status.Phase == "" {
			return "phase unknown"
		}
		return string(p.Status.Phase)
	case !PodReady(p):
		return "Running but not Ready"
	}
	return "Ready"
}

// portForwardURL is the pods/portforward subresource of pod, honouring a
// path prefix in the server URL (API proxies such as Rancher use one).
func portForwardURL(cfg *rest.Config, namespace, pod string) (*url.URL, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &schema.GroupVersion{Version: "v1"}
	base, versioned, err := rest.DefaultServerUrlFor(c)
	if err != nil {
		return nil, fmt.Errorf("port-forward: invalid API server address %q: %w", cfg.Host, err)
	}
	u := *base
	u.Path = path.Join("/", base.Path, versioned, "namespaces", namespace, "pods", pod, "portforward")
	return &u, nil
}

// errorSink collects what client-go's port-forwarder reports while it runs:
// as a logr sink (per-connection failures) and as its error writer.
type errorSink struct {
	mu  sync.Mutex
	err error
}

func (s *errorSink) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *errorSink) last() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Write receives the forwarder's error output, one message per call.
func (s *errorSink) Write(p []byte) (int, error) {
	if msg := strings.TrimSpace(string(p)); msg != "" {
		s.set(errors.New(msg))
	}
	return len(p), nil
}

func (s *errorSink) Init(logr.RuntimeInfo) {}

// Enabled drops informational logging: only errors matter here.
func (s *errorSink) Enabled(int) bool { return false }

func (s *errorSink) Info(int, string, ...any) {}

func (s *errorSink) Error(err error, msg string, _ ...any) {
	switch {
	case err == nil:
		s.set(errors.New(msg))
	case msg == "":
		s.set(err)
	default:
		s.set(fmt.Errorf("%s: %w", strings.ToLower(msg[:1])+msg[1:], err))
	}
}

func (s *errorSink) WithValues(...any) logr.LogSink { return s }

func (s *errorSink) WithName(string) logr.LogSink { return s }
