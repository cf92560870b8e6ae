package checks

import (
	"strings"
)

// rwSecretRef names one key of a Secret in the release's namespace.
type rwSecretRef struct{ Secret, Key string }

// rwEndpoint is what the remote-write checks need of one endpoint of the release values.
// It mirrors remotewrite.Endpoint (RW-INTERFACE.md); readRemoteWrite is the one place that
// reads the values, to be replaced by remotewrite.Endpoints and ClusterLabel.
type rwEndpoint struct {
	Name, URL, QueryURL string
	Headers             map[string]string
	Bearer              *rwSecretRef
	// Basic is the Secret with the keys username and password.
	Basic *string
}

const rwSecretsDir = "/etc/meshmon/secrets/"

// readRemoteWrite returns the release's remote_write endpoints and its cluster label.
func readRemoteWrite(values map[string]any) ([]rwEndpoint, string, error) {
	server, _ := values["server"].(map[string]any)
	entries, _ := server["remoteWrite"].([]any)
	queryURLs := map[string]string{}
	if mm, ok := values["meshmon"].(map[string]any); ok {
		notes, _ := mm["remoteWrite"].([]any)
		for _, n := range notes {
			if m, ok := n.(map[string]any); ok {
				name, _ := m["name"].(string)
				q, _ := m["queryURL"].(string)
				queryURLs[name] = q
			}
		}
	}
	var out []rwEndpoint
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		ep := rwEndpoint{Headers: map[string]string{}}
		ep.Name, _ = m["name"].(string)
		ep.URL, _ = m["url"].(string)
		ep.QueryURL = queryURLs[ep.Name]
		if h, ok := m["headers"].(map[string]any); ok {
			for k, v := range h {
				if s, ok := v.(string); ok {
					ep.Headers[k] = s
				}
			}
		}
		if a, ok := m["authorization"].(map[string]any); ok {
			if f, _ := a["credentials_file"].(string); strings.HasPrefix(f, rwSecretsDir) {
				if s, k, ok := strings.Cut(strings.TrimPrefix(f, rwSecretsDir), "/"); ok {
					ep.Bearer = &rwSecretRef{Secret: s, Key: k}
				}
			}
		}
		if b, ok := m["basic_auth"].(map[string]any); ok {
			if f, _ := b["password_file"].(string); strings.HasPrefix(f, rwSecretsDir) {
				if s, _, ok := strings.Cut(strings.TrimPrefix(f, rwSecretsDir), "/"); ok {
					ep.Basic = &s
				}
			}
		}
		out = append(out, ep)
	}
	cluster := ""
	if g, ok := server["global"].(map[string]any); ok {
		if el, ok := g["external_labels"].(map[string]any); ok {
			cluster, _ = el[clusterLabel].(string)
		}
	}
	return out, cluster, nil
}
