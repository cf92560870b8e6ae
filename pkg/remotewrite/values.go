package remotewrite

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/meshmon/meshmon/pkg/helmvalues"
)

// note is meshmon's record of an endpoint under the values key meshmon.remoteWrite, which
// the chart ignores: what Prometheus' config cannot say.
type note struct {
	Name     string
	QueryURL string
	Keep     []string
}

// ClusterLabel returns the release's external label "cluster" ("" when none).
func ClusterLabel(values map[string]any) string {
	s, _ := helmvalues.LookupString(values, externalLabelPath...)
	return s
}

// WithClusterLabel returns a copy of values with the external label cluster=name.
func WithClusterLabel(values map[string]any, name string) map[string]any {
	out := helmvalues.DeepCopyMap(values)
	m := out
	for _, k := range externalLabelPath[:len(externalLabelPath)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[externalLabelPath[len(externalLabelPath)-1]] = name
	return out
}

func list(values map[string]any, path []string) ([]any, error) {
	v, ok := helmvalues.Lookup(values, path...)
	if !ok {
		return nil, nil
	}
	items, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("the release's values have %s set to a %T, not a list: fix it with install first", strings.Join(path, "."), v)
	}
	return items, nil
}

// setList sets path in values (a copy the caller owns), creating maps on the way; an
// empty list removes the key.
func setList(values map[string]any, path []string, items []any) {
	m := values
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if len(items) == 0 {
				return
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	last := path[len(path)-1]
	if len(items) == 0 {
		delete(m, last)
		return
	}
	m[last] = items
}

func notes(values map[string]any) map[string]note {
	items, _ := list(values, notesPath)
	out := map[string]note{}
	for _, it := range items {
		m, _ := it.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" {
			continue
		}
		n := note{Name: name}
		n.QueryURL, _ = m["queryURL"].(string)
		keep, _ := m["keep"].([]any)
		for _, k := range keep {
			if s, ok := k.(string); ok {
				n.Keep = append(n.Keep, s)
			}
		}
		out[name] = n
	}
	return out
}

// Endpoints reads the endpoints back from a release's values (remote_write entries, with
// meshmon's notes). Entries without a name (e.g. from install --remote-write-url) are
// returned with Name "" and URL set.
func Endpoints(values map[string]any) ([]Endpoint, error) {
	items, err := list(values, remoteWritePath)
	if err != nil {
		return nil, err
	}
	ns := notes(values)
	out := []Endpoint{}
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		e := fromEntry(m)
		if n, ok := ns[e.Name]; ok && e.Name != "" {
			e.QueryURL, e.Keep = n.QueryURL, n.Keep
		} else if _, hasRules := m["write_relabel_configs"]; !hasRules {
			e.Keep = []string{KeepAll}
		}
		out = append(out, e)
	}
	return out, nil
}

func str(m map[string]any, keys ...string) string {
	s, _ := helmvalues.LookupString(m, keys...)
	return s
}

func fromEntry(m map[string]any) Endpoint {
	e := Endpoint{Name: str(m, "name"), URL: str(m, "url")}
	if r, ok := ParseSecretPath(str(m, "authorization", "credentials_file")); ok {
		e.BearerToken = &r
	}
	if r, ok := ParseSecretPath(str(m, "basic_auth", "username_file")); ok {
		e.BasicAuth = &r.Secret
	}
	if r, ok := ParseSecretPath(str(m, "tls_config", "ca_file")); ok {
		e.CA = &r
	}
	if r, ok := ParseSecretPath(str(m, "tls_config", "cert_file")); ok {
		e.ClientCert = &r.Secret
	}
	v, present := helmvalues.Lookup(m, "tls_config", "insecure_skip_verify")
	e.InsecureSkipVerify = helmvalues.IsTrue(v, present)
	if h, ok := m["headers"].(map[string]any); ok && len(h) > 0 {
		e.Headers = map[string]string{}
		for k, v := range h {
			e.Headers[k] = fmt.Sprint(v)
		}
	}
	if q, ok := m["queue_config"].(map[string]any); ok {
		q = helmvalues.DeepCopyMap(q)
		if n, ok := helmvalues.Int(q["max_shards"]); ok {
			e.MaxShards = int(n)
			delete(q, "max_shards")
		}
		if n, ok := helmvalues.Int(q["capacity"]); ok {
			e.Capacity = int(n)
			delete(q, "capacity")
		}
		if len(q) > 0 {
			e.QueueConfig = q
		}
	}
	return e
}

// With returns values with e's remote_write entry added, or replacing the entry of the
// same name in place, every Secret it references mounted, and meshmon's note of it.
// changed is false when the values already are so.
func With(values map[string]any, e Endpoint) (out map[string]any, changed bool, err error) {
	if err := e.Validate(); err != nil {
		return nil, false, err
	}
	out = helmvalues.DeepCopyMap(values)
	items, err := list(out, remoteWritePath)
	if err != nil {
		return nil, false, err
	}
	entry := Render(e)
	replaced := false
	for i, it := range items {
		if m, _ := it.(map[string]any); m != nil && m["name"] == e.Name {
			items[i], replaced = entry, true
			break
		}
	}
	if !replaced {
		items = append(items, entry)
	}
	setList(out, remoteWritePath, items)
	keep := e.Keep
	if len(keep) == 0 {
		keep = []string{KeepLinkerd}
	}
	n := map[string]any{"name": e.Name, "keep": toAnyList(keep)}
	if e.QueryURL != "" {
		n["queryURL"] = e.QueryURL
	}
	if err := setNote(out, e.Name, n); err != nil {
		return nil, false, err
	}
	if err := SyncMounts(out); err != nil {
		return nil, false, err
	}
	if same(out, values) {
		return values, false, nil
	}
	return out, true, nil
}

// Without returns values without the remote_write entry name, its note and the mounts
// nothing references any more; found is false when there is no such entry.
func Without(values map[string]any, name string) (out map[string]any, found bool, err error) {
	out = helmvalues.DeepCopyMap(values)
	items, err := list(out, remoteWritePath)
	if err != nil {
		return nil, false, err
	}
	kept := make([]any, 0, len(items))
	for _, it := range items {
		if m, _ := it.(map[string]any); m != nil && m["name"] == name {
			found = true
			continue
		}
		kept = append(kept, it)
	}
	if !found {
		return values, false, nil
	}
	setList(out, remoteWritePath, kept)
	if err := setNote(out, name, nil); err != nil {
		return nil, false, err
	}
	if err := SyncMounts(out); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// setNote replaces (n != nil) or removes the note of name, in out (a copy).
func setNote(out map[string]any, name string, n map[string]any) error {
	items, err := list(out, notesPath)
	if err != nil {
		return err
	}
	var next []any
	done := false
	for _, it := range items {
		if m, _ := it.(map[string]any); m != nil && m["name"] == name {
			if n != nil && !done {
				next = append(next, n)
				done = true
			}
			continue
		}
		next = append(next, it)
	}
	if n != nil && !done {
		next = append(next, n)
	}
	setList(out, notesPath, next)
	if m, ok := out["meshmon"].(map[string]any); ok && len(m) == 0 {
		delete(out, "meshmon")
	}
	return nil
}

// ReferencedSecrets lists the Secrets whose mounted files values refer to, from the
// remote_write entries and the scrape jobs (federation credentials), sorted.
func ReferencedSecrets(values map[string]any) []string {
	seen := map[string]bool{}
	for _, path := range [][]string{remoteWritePath, scrapeConfigsPath} {
		v, _ := helmvalues.Lookup(values, path...)
		walkStrings(v, func(s string) {
			if r, ok := ParseSecretPath(s); ok {
				seen[r.Secret] = true
			}
		})
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func walkStrings(v any, f func(string)) {
	switch t := v.(type) {
	case string:
		f(t)
	case []any:
		for _, e := range t {
			walkStrings(e, f)
		}
	case map[string]any:
		for _, e := range t {
			walkStrings(e, f)
		}
	}
}

// SyncMounts makes server.extraSecretMounts in out (a copy the caller owns) mount every
// Secret the values refer to once, and no other meshmon-secret-* mount; the user's mounts
// stay as they are, in place.
func SyncMounts(out map[string]any) error {
	items, err := list(out, secretMountsPath)
	if err != nil {
		return err
	}
	want := ReferencedSecrets(out)
	have := map[string]bool{}
	next := make([]any, 0, len(items)+len(want))
	for _, it := range items {
		m, _ := it.(map[string]any)
		name, _ := m["name"].(string)
		if !strings.HasPrefix(name, MountPrefix) {
			next = append(next, it)
			continue
		}
		secret := strings.TrimPrefix(name, MountPrefix)
		if !slices.Contains(want, secret) || have[secret] {
			continue
		}
		have[secret] = true
		next = append(next, mount(secret))
	}
	for _, s := range want {
		if !have[s] {
			next = append(next, mount(s))
		}
	}
	setList(out, secretMountsPath, next)
	return nil
}

func mount(secret string) map[string]any {
	return map[string]any{
		"name":       MountName(secret),
		"secretName": secret,
		"mountPath":  SecretDir + "/" + secret,
		"readOnly":   true,
	}
}

// Mounts returns meshmon's Secret mounts of values (name, Secret, path), for printing.
func Mounts(values map[string]any) []map[string]any {
	items, _ := list(values, secretMountsPath)
	var out []map[string]any
	for _, it := range items {
		if m, _ := it.(map[string]any); m != nil {
			if name, _ := m["name"].(string); strings.HasPrefix(name, MountPrefix) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Carry adds to planned (values an install computed, modified in place) the named
// remote_write entries of the deployed release's values that planned lacks, with their
// notes, and mounts what planned then refers to. It returns the names carried. Unnamed
// entries come from install's own flags and are not carried.
func Carry(planned, deployed map[string]any) ([]string, error) {
	items, err := list(planned, remoteWritePath)
	if err != nil {
		return nil, err
	}
	old, err := list(deployed, remoteWritePath)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, it := range items {
		if m, _ := it.(map[string]any); m != nil {
			if n, _ := m["name"].(string); n != "" {
				have[n] = true
			}
		}
	}
	ns, _ := list(deployed, notesPath)
	var carried []string
	for _, it := range old {
		m, _ := it.(map[string]any)
		name, _ := m["name"].(string)
		if name == "" || have[name] {
			continue
		}
		items = append(items, helmvalues.DeepCopy(m))
		carried = append(carried, name)
		for _, n := range ns {
			if nm, _ := n.(map[string]any); nm != nil && nm["name"] == name {
				if err := setNote(planned, name, helmvalues.DeepCopyMap(nm)); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(carried) > 0 {
		setList(planned, remoteWritePath, items)
		// The endpoints' series are told apart by the cluster label `remote-write add`
		// made sure of; an install without --cluster-name keeps it for them.
		if c := ClusterLabel(deployed); c != "" && ClusterLabel(planned) == "" {
			maps.Copy(planned, WithClusterLabel(planned, c))
		}
	}
	if len(carried) > 0 || len(ReferencedSecrets(planned)) > 0 || len(Mounts(planned)) > 0 {
		if err := SyncMounts(planned); err != nil {
			return nil, err
		}
	}
	return carried, nil
}
