package viz

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/meshmon/meshmon/pkg/fixtures"
)

// fixtureObjects decodes the objects of the kinds the tests use from a fixture file.
func fixtureObjects(t *testing.T, name string) []runtime.Object {
	t.Helper()
	raw := fixtures.Read(t, "linkerd", name)
	decode := scheme.Codecs.UniversalDeserializer().Decode
	var out []runtime.Object
	for _, doc := range strings.Split(string(raw), "\n---") {
		if !strings.Contains(doc, "kind:") {
			continue
		}
		obj, _, err := decode([]byte(doc), nil, nil)
		if err != nil {
			// Linkerd's own kinds (Server, …) are not in the client-go scheme.
			continue
		}
		switch obj.(type) {
		case *corev1.Namespace, *appsv1.Deployment, *batchv1.CronJob, *corev1.ConfigMap, *corev1.ServiceAccount, *corev1.Service:
			out = append(out, obj)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no objects decoded from fixture %s", name)
	}
	return out
}

// find returns the object of type T with that namespace and name.
func find[T runtime.Object](t *testing.T, objs []runtime.Object, namespace, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok {
			m := any(v).(interface {
				GetNamespace() string
				GetName() string
			})
			if m.GetNamespace() == namespace && m.GetName() == name {
				return v
			}
		}
	}
	var zero T
	t.Fatalf("fixture has no %T %s/%s", zero, namespace, name)
	return zero
}

// jsonDiff lists the paths where a and b differ once both are encoded as JSON.
func jsonDiff(t *testing.T, a, b any) []string {
	t.Helper()
	var da, db any
	for _, p := range []struct {
		in  any
		out *any
	}{{a, &da}, {b, &db}} {
		raw, err := json.Marshal(p.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, p.out); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		switch xv := x.(type) {
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok {
				out = append(out, fmt.Sprintf("%s: %v != %v", path, x, y))
				return
			}
			for k := range xv {
				walk(path+"."+k, xv[k], yv[k])
			}
			for k := range yv {
				if _, ok := xv[k]; !ok {
					out = append(out, fmt.Sprintf("%s.%s: absent != %v", path, k, yv[k]))
				}
			}
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				out = append(out, fmt.Sprintf("%s: %v != %v", path, x, y))
				return
			}
			for i := range xv {
				walk(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i])
			}
		default:
			if !reflect.DeepEqual(x, y) {
				out = append(out, fmt.Sprintf("%s: %v != %v", path, x, y))
			}
		}
	}
	walk("", da, db)
	return out
}
