//go:build e2e

package framework

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/prom/promtest"
)

// PrometheusAddr is where kwok sends every port-forward to a pod's port
// 9090: a Prometheus listening here plays any Prometheus pod.
const PrometheusAddr = "127.0.0.1:19090"

// ReleasePrometheus describes the in-cluster Prometheus a test runs for real.
type ReleasePrometheus struct {
	// Namespace and ConfigMap hold the release's prometheus.yml (key "prometheus.yml").
	Namespace, ConfigMap string
	// ServiceAccount is the one the server pod runs as; its token lets
	// Prometheus discover pods with the release's own RBAC.
	ServiceAccount string
	// Args are extra flags, e.g. the retention flags of the server container.
	Args []string
	// DataDir keeps the TSDB; empty means a fresh directory.
	DataDir string
}

// StartReleasePrometheus runs the real Prometheus binary at PrometheusAddr
// with the configuration the release rendered, changed only so that its
// Kubernetes discovery reaches the API server from outside a pod: the API
// server address, its CA, and a token of the release's ServiceAccount
// (TokenRequest API), which also proves the release's ClusterRole allows
// discovery.
func StartReleasePrometheus(t testing.TB, env *Env, kc kubernetes.Interface, o ReleasePrometheus) *promtest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cm, err := kc.CoreV1().ConfigMaps(o.Namespace).Get(ctx, o.ConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the release's configuration: %v", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["prometheus.yml"]), &cfg); err != nil {
		t.Fatalf("ConfigMap %s/%s: prometheus.yml: %v", o.Namespace, o.ConfigMap, err)
	}
	tok, err := kc.CoreV1().ServiceAccounts(o.Namespace).CreateToken(ctx, o.ServiceAccount,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for ServiceAccount %s/%s: %v", o.Namespace, o.ServiceAccount, err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	kcfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		sds, _ := job["kubernetes_sd_configs"].([]any)
		for _, s := range sds {
			sd, _ := s.(map[string]any)
			sd["api_server"] = kcfg.Host
			sd["tls_config"] = map[string]any{"ca_file": filepath.Join(env.Run, "pki", "ca.crt")}
			sd["authorization"] = map[string]any{"credentials_file": tokenFile}
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return promtest.Start(t, promtest.Options{Config: string(out), ListenAddress: PrometheusAddr, Args: o.Args, DataDir: o.DataDir})
}

func ptrTo[T any](v T) *T { return &v }
