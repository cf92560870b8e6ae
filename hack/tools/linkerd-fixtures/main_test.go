package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func fixtures(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "..", "shared", "fixtures", "linkerd")
	if _, err := os.Stat(filepath.Join(dir, "viz.yaml")); err != nil {
		t.Fatalf("Linkerd fixtures not found at %s (../shared next to the clone): %v", dir, err)
	}
	return dir
}

func TestVizDeploymentsSelectTheirPods(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{fixtures(t), "viz"}, &out); err != nil {
		t.Fatal(err)
	}
	deployments := 0
	for _, raw := range splitDocs(out.Bytes()) {
		var o object
		if err := yaml.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		switch str(o, "kind") {
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService":
			t.Errorf("%s was not filtered out", key(o))
		case "Namespace":
			if labels(o, "metadata")["linkerd.io/extension"] != "viz" {
				t.Error("viz namespace lacks linkerd.io/extension=viz")
			}
		case "Deployment":
			deployments++
			sel := o["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
			tl := labels(o, "spec", "template", "metadata")
			for k, v := range sel {
				if tl[k] != v {
					t.Errorf("%s: selector %s=%v does not match template labels %v", key(o), k, v, tl)
				}
			}
			// The injected proxy is what makes the fixture meshed.
			if !strings.Contains(string(raw), "name: linkerd-proxy") {
				t.Errorf("%s lost its linkerd-proxy container", key(o))
			}
		}
	}
	if deployments != 5 {
		t.Errorf("got %d viz Deployments, want 5", deployments)
	}
}
