// Package release owns the meshmon Prometheus Helm release.
package release

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/scrape"
)

// Facts of the chart and of Linkerd that the values pin down.
const (
	// ServicePort is where linkerd-viz and meshmon expect Prometheus; the chart's default
	// Service port is 80.
	ServicePort = 9090
	// InjectAnnotation meshes the Prometheus pod.
	InjectAnnotation = "linkerd.io/inject"
	// KeepAnnotation on the PVC makes `helm uninstall` leave the data volume alone.
	KeepAnnotation = "helm.sh/resource-policy"
	keepValue      = "keep"
	// chartName is the chart's name, which its fullname templates fold into resource names.
	chartName = "prometheus"
	// minStorageSize rejects zero, negative and absurd volumes alike.
	minStorageSize = "1Mi"
	// serverComponent is the chart's default server.name.
	serverComponent = "server"
	// retentionShare is the part of the volume Prometheus may fill with blocks by default;
	// the rest is headroom for the WAL and compaction.
	retentionShare = 90
)

// subcharts are the chart's dependencies, all enabled by default and all unneeded.
func subcharts() []string {
	return []string{"alertmanager", "kube-state-metrics", "prometheus-node-exporter", "prometheus-pushgateway"}
}

// Values builds the chart values meshmon installs Prometheus with. The warnings are those
// of Resolve.
func Values(opts ValuesOptions) (map[string]any, []Warning, error) {
	o, warnings, err := opts.Resolve()
	if err != nil {
		return nil, nil, err
	}
	jobs, err := toValue(scrape.Jobs(o.Scrape))
	if err != nil {
		return nil, nil, fmt.Errorf("converting the scrape jobs to chart values: %w", err)
	}

	global := map[string]any{
		"scrape_interval":     o.ScrapeInterval,
		"scrape_timeout":      o.ScrapeTimeout,
		"evaluation_interval": o.EvaluationInterval,
	}
	if o.ClusterName != "" {
		global["external_labels"] = map[string]any{"cluster": o.ClusterName}
	}
	pv := map[string]any{
		"enabled":     true,
		"size":        o.StorageSize,
		"accessModes": []any{"ReadWriteOnce"},
		"annotations": map[string]any{KeepAnnotation: keepValue},
	}
	if o.StorageClass != "" {
		pv["storageClass"] = o.StorageClass
	}
	if o.ExistingClaim != "" {
		pv["existingClaim"] = o.ExistingClaim
	}
	server := map[string]any{
		"global":                  global,
		"service":                 map[string]any{"servicePort": ServicePort},
		"persistentVolume":        pv,
		"statefulSet":             map[string]any{"enabled": o.StatefulSet},
		"retention":               o.Retention,
		"retentionSize":           o.RetentionSize,
		"podAnnotations":          map[string]any{InjectAnnotation: "enabled"},
		"clusterRoleNameOverride": o.ClusterRoleNameOverride,
	}
	if len(o.RemoteWriteURLs) > 0 {
		rw := make([]any, 0, len(o.RemoteWriteURLs))
		for _, u := range o.RemoteWriteURLs {
			rw = append(rw, map[string]any{"url": u})
		}
		server["remoteWrite"] = rw
	}

	values := map[string]any{
		// null, not {}: Helm deletes a key set to null, taking the chart's ten default jobs
		// with it, while {} would merge with them.
		"scrapeConfigs": nil,
		"server":        server,
		"serverFiles": map[string]any{
			"prometheus.yml": map[string]any{"scrape_configs": jobs},
		},
		"serviceAccounts": map[string]any{
			"server": map[string]any{"name": o.ServiceAccountName},
		},
	}
	for _, sub := range subcharts() {
		values[sub] = map[string]any{"enabled": false}
	}
	return values, warnings, nil
}

// toValue converts typed data into the plain maps, lists and scalars chart values are made of.
func toValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RenderValuesYAML renders values with sorted keys, keeping explicit nulls.
func RenderValuesYAML(values map[string]any) ([]byte, error) {
	out, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("rendering chart values as YAML: %w", err)
	}
	return out, nil
}

// pathString writes a values path the way the docs do: dotted, with keys that contain dots
// quoted (serverFiles."prometheus.yml".scrape_configs).
func pathString(keys ...string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		if strings.ContainsAny(k, ". ") {
			k = `"` + k + `"`
		}
		parts[i] = k
	}
	return strings.Join(parts, ".")
}
