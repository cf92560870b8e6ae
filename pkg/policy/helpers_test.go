package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// yamlDocs splits a multi-document YAML file into JSON-compatible maps, skipping empty ones.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, doc := range strings.Split(string(raw), "\n---") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// crdSchemas maps "apiVersion/Kind" to the compiled openAPIV3Schema of the real Linkerd CRDs.
type crdSchemas map[string]*jsonschema.Schema

func loadCRDSchemas(t *testing.T) crdSchemas {
	t.Helper()
	out := crdSchemas{}
	c := jsonschema.NewCompiler()
	for _, crd := range yamlDocs(t, fixtures.Path(t, "linkerd", "crds.yaml")) {
		spec, _ := crd["spec"].(map[string]any)
		if spec == nil || spec["group"] != Group {
			continue
		}
		kind := spec["names"].(map[string]any)["kind"].(string)
		for _, v := range spec["versions"].([]any) {
			ver := v.(map[string]any)
			if ver["served"] != true {
				continue
			}
			schema := ver["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
			id := Group + "/" + ver["name"].(string) + "/" + kind
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustJSON(t, strictSchema(schema, true))))
			if err != nil {
				t.Fatal(err)
			}
			url := "mem://" + id + ".json"
			if err := c.AddResource(url, doc); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			s, err := c.Compile(url)
			if err != nil {
				t.Fatalf("compiling schema of %s: %v", id, err)
			}
			out[id] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("no policy.linkerd.io CRDs found in crds.yaml")
	}
	return out
}

// strictSchema makes the schema reject fields the API server would silently prune (structural
// schemas drop unknown fields), so a misspelt field fails the test instead of vanishing.
func strictSchema(s map[string]any, root bool) map[string]any {
	out := map[string]any{}
	for k, v := range s {
		switch vv := v.(type) {
		case map[string]any:
			if k == "properties" {
				props := map[string]any{}
				for pk, pv := range vv {
					props[pk] = strictSchema(pv.(map[string]any), false)
				}
				out[k] = props
			} else {
				out[k] = strictSchema(vv, false)
			}
		case []any:
			items := make([]any, len(vv))
			for i, it := range vv {
				if m, ok := it.(map[string]any); ok {
					items[i] = strictSchema(m, false)
				} else {
					items[i] = it
				}
			}
			out[k] = items
		default:
			out[k] = v
		}
	}
	if root {
		props, _ := out["properties"].(map[string]any)
		for _, f := range []string{"apiVersion", "kind"} {
			if _, ok := props[f]; !ok {
				props[f] = map[string]any{"type": "string"}
			}
		}
		props["metadata"] = map[string]any{"type": "object"}
	}
	if _, ok := out["properties"]; ok && out["x-kubernetes-preserve-unknown-fields"] != true {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
	}
	return out
}

func (s crdSchemas) validate(t *testing.T, o *unstructured.Unstructured) error {
	t.Helper()
	sch, ok := s[o.GetAPIVersion()+"/"+o.GetKind()]
	if !ok {
		t.Fatalf("no served CRD version for %s %s", o.GetAPIVersion(), o.GetKind())
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustJSON(t, o.Object)))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func objectsYAML(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	fixtures.Golden(t, filepath.Join("testdata", name), got, *update)
}
