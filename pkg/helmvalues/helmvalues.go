// Package helmvalues works on chart values as Helm decodes them (maps, lists and scalars
// from YAML, JSON or --set): merging them the way Helm does, and reading them by path.
package helmvalues

import (
	"encoding/json"
	"fmt"
)

// Merge lays the overlays over base in order, the way Helm combines -f files and --set:
// maps merge key by key, anything else replaces, and an explicit null replaces too and
// stays null, so that Helm later deletes that key and the chart's default under it. The
// inputs are not modified and the result shares no map or list with them.
func Merge(base map[string]any, overlays ...map[string]any) map[string]any {
	out := DeepCopyMap(base)
	for _, o := range overlays {
		mergeInto(out, o)
	}
	return out
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = DeepCopy(v)
	}
}

// DeepCopyMap copies m and every map and list in it; nil becomes an empty map.
func DeepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = DeepCopy(v)
	}
	return out
}

// DeepCopy copies v and every map and list in it; scalars are returned as they are.
func DeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return DeepCopyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = DeepCopy(e)
		}
		return out
	default:
		return v
	}
}

// Lookup returns the value at keys, and whether it is there and not null.
func Lookup(values map[string]any, keys ...string) (any, bool) {
	var cur any = values
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[k]
		if !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// LookupString returns the value at keys as the chart's templates would print it, and
// whether it is set: missing, null and "" are not.
func LookupString(values map[string]any, keys ...string) (string, bool) {
	v, ok := Lookup(values, keys...)
	if !ok {
		return "", false
	}
	if s, isString := v.(string); isString {
		return s, s != ""
	}
	return fmt.Sprint(v), true
}

// Int reads an integer however the values were decoded (Go literals, YAML, JSON, --set).
func Int(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
	}
	return 0, false
}

// IsTrue mirrors how the chart's templates test a flag: only a true bool that is present is true.
func IsTrue(v any, present bool) bool {
	b, ok := v.(bool)
	return present && ok && b
}
