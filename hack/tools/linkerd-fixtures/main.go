// Command linkerd-fixtures prints the Linkerd fixtures as the test cluster
// gets them: CRDs, control plane and meshed viz, without the objects that
// would make the API server dial out (admission webhooks, APIServices).
//
// viz-injected.yaml (viz as `linkerd inject --manual` renders it) lost the
// linkerd.io/extension=viz label everywhere, so its Deployments' selectors
// no longer match their pod templates and the API server rejects them, and
// the namespace no longer marks viz as installed. The labels are restored
// from viz.yaml, object by object; nothing else is changed.
//
// usage: go run ./hack/tools/linkerd-fixtures FIXTURES_DIR [crds|control-plane|viz]
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

var dropKinds = map[string]bool{
	"MutatingWebhookConfiguration":   true,
	"ValidatingWebhookConfiguration": true,
	"APIService":                     true,
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "linkerd-fixtures:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: linkerd-fixtures FIXTURES_DIR crds|control-plane|viz")
	}
	dir, part := args[0], args[1]
	switch part {
	case "crds", "control-plane":
		docs, err := load(filepath.Join(dir, part+".yaml"))
		if err != nil {
			return err
		}
		return write(w, docs)
	case "viz":
		docs, err := load(filepath.Join(dir, "viz-injected.yaml"))
		if err != nil {
			return err
		}
		plain, err := load(filepath.Join(dir, "viz.yaml"))
		if err != nil {
			return err
		}
		restoreLabels(docs, plain)
		return write(w, docs)
	}
	return fmt.Errorf("unknown part %q (want crds, control-plane or viz)", part)
}

type object = map[string]any

func load(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []object
	for i, raw := range splitDocs(data) {
		var o object
		if err := yaml.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i, err)
		}
		if len(o) == 0 || dropKinds[str(o, "kind")] {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("---")) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func key(o object) string {
	md, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%s/%v/%v", str(o, "kind"), md["namespace"], md["name"])
}

// restoreLabels adds labels present in plain but missing from docs, on the
// object itself and on its pod template; existing labels are never changed.
func restoreLabels(docs, plain []object) {
	byKey := map[string]object{}
	for _, p := range plain {
		byKey[key(p)] = p
	}
	for _, d := range docs {
		p, ok := byKey[key(d)]
		if !ok {
			continue
		}
		mergeMissing(labels(d, "metadata"), labels(p, "metadata"))
		if tl := labels(p, "spec", "template", "metadata"); len(tl) > 0 {
			mergeMissing(labels(d, "spec", "template", "metadata"), tl)
		}
	}
}

// labels returns the labels map under path, creating it when absent.
func labels(o object, path ...string) map[string]any {
	m := o
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	l, ok := m["labels"].(map[string]any)
	if !ok {
		l = map[string]any{}
		m["labels"] = l
	}
	return l
}

func mergeMissing(dst, src map[string]any) {
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
}

func write(w io.Writer, docs []object) error {
	for _, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return fmt.Errorf("rendering %s: %w", key(d), err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}

func str(o object, k string) string {
	s, _ := o[k].(string)
	return strings.TrimSpace(s)
}
