package helmvalues

import (
	"reflect"
	"testing"

	"helm.sh/helm/v4/pkg/strvals"
)

// leaves calls fn with the key path and value of every non-map value in m.
func leaves(m map[string]any, path []string, fn func([]string, any)) {
	for k, v := range m {
		p := append(append([]string(nil), path...), k)
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			leaves(sub, p, fn)
			continue
		}
		fn(p, v)
	}
}

// at is Lookup that also finds explicit nulls: Merge keeps them (Helm deletes those keys).
func at(m map[string]any, path ...string) (any, bool) {
	if len(path) == 0 {
		return m, true
	}
	parent, ok := Lookup(m, path[:len(path)-1]...)
	if len(path) == 1 {
		parent, ok = m, true
	}
	pm, isMap := parent.(map[string]any)
	if !ok || !isMap {
		return nil, false
	}
	v, ok := pm[path[len(path)-1]]
	return v, ok
}

// scribble writes a marker key into every map reachable from v, lists included.
func scribble(v any) {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			scribble(e)
		}
		t["\x00fuzz-marker"] = true
	case []any:
		for _, e := range t {
			scribble(e)
		}
	}
}

// FuzzMergeSetValues parses two arbitrary --set (or --set-string) arguments the way Helm
// does (strvals) and merges the second over the first. Merge never panics nor modifies its
// inputs; the result shares no map with them; every value the overlay sets is found at its
// path; every value of the base the overlay does not touch stays; merging the overlay a
// second time changes nothing; DeepCopyMap returns an equal map.
func FuzzMergeSetValues(f *testing.F) {
	for _, s := range [][3]any{
		{"server.retention=15d,server.persistentVolume.size=20Gi", "server.retention=30d", false},
		{"server.extraArgs.storage\\.tsdb\\.wal-compression=true", "server.extraArgs=null", false},
		{"serverFiles.prometheus\\.yml.scrape_configs[0].job_name=a", "serverFiles.prometheus\\.yml.scrape_configs[1].job_name=b", false},
		{"a.b[2].c=1,a.b[0]=x", "a.b=null", true},
		{"server.remoteWrite[0].url=https://m.example.com/api/v1/push", "server.remoteWrite[0].basic_auth.username=u", true},
		{"name={a,b,c}", "name[1]=z", false},
		{"x=1", "x.y=2", false},
	} {
		f.Add(s[0].(string), s[1].(string), s[2].(bool))
	}
	f.Fuzz(func(t *testing.T, baseSet, overlaySet string, asString bool) {
		parse := strvals.Parse
		if asString {
			parse = strvals.ParseString
		}
		base, err := parse(baseSet)
		if err != nil {
			return
		}
		overlay, err := parse(overlaySet)
		if err != nil {
			return
		}
		baseBefore, overlayBefore := DeepCopyMap(base), DeepCopyMap(overlay)
		if !reflect.DeepEqual(baseBefore, base) || !reflect.DeepEqual(overlayBefore, overlay) {
			t.Fatalf("DeepCopyMap differs from its input: %v / %v", base, overlay)
		}
		out := Merge(base, overlay)
		if !reflect.DeepEqual(base, baseBefore) || !reflect.DeepEqual(overlay, overlayBefore) {
			t.Fatal("Merge modified its inputs")
		}
		leaves(overlay, nil, func(path []string, want any) {
			got, ok := at(out, path...)
			if !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("overlay sets %v=%#v, merged has %#v (present %v)", path, want, got, ok)
			}
		})
		leaves(base, nil, func(path []string, want any) {
			for i := 1; i <= len(path); i++ {
				v, ok := at(overlay, path[:i]...)
				if !ok {
					break
				}
				if _, isMap := v.(map[string]any); !isMap || i == len(path) {
					return // the overlay replaces this path
				}
			}
			got, ok := at(out, path...)
			if !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("base has %v=%#v untouched by the overlay, merged has %#v (present %v)", path, want, got, ok)
			}
		})
		if again := Merge(out, overlay); !reflect.DeepEqual(again, out) {
			t.Fatalf("merging the overlay twice changed the result:\nonce  %v\ntwice %v", out, again)
		}
		scribble(out)
		if !reflect.DeepEqual(base, baseBefore) || !reflect.DeepEqual(overlay, overlayBefore) {
			t.Fatal("the merged values share a map or list with the inputs")
		}
	})
}
