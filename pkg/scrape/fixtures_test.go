package scrape

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// fixturePath locates a shared fixture next to the repository; a missing ../shared is a
// test failure, never a skip.
func fixturePath(t *testing.T, parts ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("cannot find the repository root (go.mod) above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(append([]string{dir, "..", "shared", "fixtures"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s is missing (the tests read ../shared/fixtures next to the repository): %v", p, err)
	}
	return p
}

// fixtureConfigMap returns the named ConfigMap from a multi-document fixture.
func fixtureConfigMap(t *testing.T, file, name string) *corev1.ConfigMap {
	t.Helper()
	for _, doc := range fixtureDocs(t, file) {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal(doc, &cm); err != nil {
			continue
		}
		if cm.Kind == "ConfigMap" && cm.Name == name {
			return &cm
		}
	}
	t.Fatalf("fixture %s has no ConfigMap %s", file, name)
	return nil
}

// fixtureNamespace returns the named Namespace from a multi-document fixture.
func fixtureNamespace(t *testing.T, file, name string) *corev1.Namespace {
	t.Helper()
	for _, doc := range fixtureDocs(t, file) {
		var ns corev1.Namespace
		if err := yaml.Unmarshal(doc, &ns); err != nil {
			continue
		}
		if ns.Kind == "Namespace" && ns.Name == name {
			return &ns
		}
	}
	t.Fatalf("fixture %s has no Namespace %s", file, name)
	return nil
}

func fixtureDocs(t *testing.T, file string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(fixturePath(t, file))
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("splitting %s: %v", file, err)
		}
		docs = append(docs, doc)
	}
}

// fixtureParams derives the parameters the fixtures were installed with: the control
// plane's from its linkerd-config, viz's from where its prometheus-config lives.
func fixtureParams(t *testing.T) Params {
	t.Helper()
	p, err := FromLinkerdConfig(fixtureConfigMap(t, "linkerd/control-plane.yaml", LinkerdConfigName))
	if err != nil {
		t.Fatal(err)
	}
	p.VizNamespace = fixtureConfigMap(t, "linkerd/viz.yaml", "prometheus-config").Namespace
	return p
}

// fixtureVizJobs returns linkerd-viz's own scrape_configs, generically decoded.
func fixtureVizJobs(t *testing.T) []map[string]any {
	t.Helper()
	cm := fixtureConfigMap(t, "linkerd/viz.yaml", "prometheus-config")
	var cfg struct {
		ScrapeConfigs []map[string]any `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["prometheus.yml"]), &cfg); err != nil {
		t.Fatalf("parsing prometheus.yml of the viz fixture: %v", err)
	}
	if len(cfg.ScrapeConfigs) == 0 {
		t.Fatal("the viz fixture's prometheus.yml has no scrape_configs")
	}
	return cfg.ScrapeConfigs
}
