//go:build e2e

// Package faults kills, stalls and interrupts the real processes around
// meshmon (kube-apiserver, Prometheus, meshmon itself) mid-flight and checks
// that meshmon says what happened and leaves a cluster a rerun repairs.
package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
)

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// volumeClass makes a StorageClass with no volume yet: a claim of that class waits,
// and so does the release, until freeVolume gives it one.
func volumeClass(t *testing.T, kc kubernetes.Interface, name string) {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "kubernetes.io/no-provisioner"}
	if _, err := kc.StorageV1().StorageClasses().Create(ctxT(t), sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// freeVolume creates a PersistentVolume of the class, which the PV controller binds
// to the waiting claim.
func freeVolume(t *testing.T, kc kubernetes.Interface, class string) {
	t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: class + "-pv"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/meshmon-test/" + class}},
		},
	}
	if _, err := kc.CoreV1().PersistentVolumes().Create(ctxT(t), pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func pvcUID(t *testing.T, kc kubernetes.Interface, ns string) string {
	t.Helper()
	var uid string
	framework.Eventually(t, time.Minute, func() error {
		p, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctxT(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			return err
		}
		uid = string(p.UID)
		return nil
	})
	return uid
}

// revisions lists the release's stored revisions as "v<n>=<status>", oldest first.
func revisions(t *testing.T, kc kubernetes.Interface, ns string) []string {
	t.Helper()
	h, err := storage.Init(driver.NewSecrets(kc.CoreV1().Secrets(ns))).History("prometheus")
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatalf("reading the history of %s/prometheus: %v", ns, err)
	}
	var rs []*rel.Release
	for _, r := range h {
		rs = append(rs, r.(*rel.Release))
	}
	slices.SortFunc(rs, func(a, b *rel.Release) int { return a.Version - b.Version })
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("v%d=%s", r.Version, r.Info.Status))
	}
	return out
}

// noOrphans fails when the namespace holds a chart object Helm's release does not own
// (an object left by an interrupted run that the release no longer tracks).
func noOrphans(t *testing.T, kc kubernetes.Interface, ns string) {
	t.Helper()
	c := ctxT(t)
	var objs []metav1.Object
	deps, err := kc.AppsV1().Deployments(ns).List(c, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range deps.Items {
		objs = append(objs, &deps.Items[i])
	}
	svcs, err := kc.CoreV1().Services(ns).List(c, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range svcs.Items {
		objs = append(objs, &svcs.Items[i])
	}
	cms, err := kc.CoreV1().ConfigMaps(ns).List(c, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cms.Items {
		if cms.Items[i].Name != "kube-root-ca.crt" {
			objs = append(objs, &cms.Items[i])
		}
	}
	pvcs, err := kc.CoreV1().PersistentVolumeClaims(ns).List(c, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pvcs.Items {
		objs = append(objs, &pvcs.Items[i])
	}
	for _, o := range objs {
		if o.GetAnnotations()["meta.helm.sh/release-name"] != "prometheus" {
			t.Errorf("%s/%s is not owned by the release: annotations %v", ns, o.GetName(), o.GetAnnotations())
		}
	}
	if n := len(deps.Items); n != 1 {
		t.Errorf("%d Deployments in %s, want the server's only", n, ns)
	}
}

// proc is a meshmon run in the background whose stdout and stderr are read line
// by line, in order.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer
	lines chan string
	done  chan struct{}
	code  int
	start time.Time
	took  time.Duration
}

func startMeshmon(t *testing.T, env *framework.Env, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.Bin, "kubectl-meshmon"), args...)
	cmd.Env = os.Environ()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{}), start: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	go func() {
		err := cmd.Wait()
		p.took = time.Since(p.start)
		_ = pw.Close()
		p.code = cmd.ProcessState.ExitCode()
		_ = err
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits for an output line containing s; the test fails if meshmon
// exits first.
func (p *proc) waitLine(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("meshmon ended before printing %q:\n%s", s, p.output())
			}
			if strings.Contains(l, s) {
				return
			}
		case <-timeout:
			t.Fatalf("meshmon did not print %q within 3m:\n%s", s, p.output())
		}
	}
}

// wait waits for meshmon to exit. The limit only catches a hang: how long it took
// is logged for docs/reliability.md, not asserted.
func (p *proc) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("meshmon still running after %s (a hang):\n%s", limit, p.output())
	}
	for range p.lines { // drain what is left
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// slowProxy is a loopback HTTPS proxy in front of the API server (serving the API
// server's own certificate, forwarding as the admin user). It holds every request for
// delay, and never answers a request whose path starts with stall (it waits for the
// client to give up).
type slowProxy struct {
	addr string
}

func startProxy(t *testing.T, env *framework.Env, target string, delay time.Duration, stall string) *slowProxy {
	t.Helper()
	return serveProxy(t, env, target, func(rp http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if stall != "" && strings.HasPrefix(r.URL.Path, stall) {
				<-r.Context().Done()
				return
			}
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
			rp.ServeHTTP(w, r)
		})
	})
}

// serveProxy serves the API server through wrap, which gets the forwarding handler.
func serveProxy(t *testing.T, env *framework.Env, target string, wrap func(http.Handler) http.Handler) *slowProxy {
	t.Helper()
	pki := filepath.Join(env.Run, "pki")
	serving, err := tls.LoadX509KeyPair(filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	up, err := url.Parse("https://" + target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}, MinVersion: tls.VersionTLS12}}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	h := wrap(rp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12}, ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return &slowProxy{addr: ln.Addr().String()}
}

// kubeconfig writes a copy of the admin kubeconfig whose server is the proxy.
func (p *slowProxy) kubeconfig(t *testing.T, env *framework.Env, apiAddr string) string {
	t.Helper()
	b, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "https://"+apiAddr, "https://"+p.addr, 1)
	if s == string(b) {
		t.Fatalf("kubeconfig %s has no server https://%s", env.Kubeconfig, apiAddr)
	}
	f := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
