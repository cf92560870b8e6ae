package release

import (
	"slices"

	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// isFreeForm tells the sections whose keys the chart passes on without listing them in its
// defaults: Prometheus' own global section, extra ConfigMap files, extra default-style jobs,
// the subcharts' values and Helm's global values.
func isFreeForm(path string) bool {
	switch path {
	case "server.global",
		"serverFiles",
		"scrapeConfigs",
		"global",
		"alertmanager",
		"kube-state-metrics",
		"prometheus-node-exporter",
		"prometheus-pushgateway":
		return true
	}
	return false
}

// isCommentedChartKey tells the keys chart 29's templates read but its values.yaml only
// mentions in comments.
func isCommentedChartKey(path string) bool {
	switch path {
	case "server.automountServiceAccountToken",
		"serviceAccounts.server.automountServiceAccountToken",
		"server.schedulerName",
		"server.hostPort",
		"server.ingress.servicePort",
		"server.persistentVolume.storageClass",
		"server.persistentVolume.selector",
		"server.persistentVolume.volumeName",
		"server.podDisruptionBudget.maxUnavailable",
		"server.podDisruptionBudget.minAvailable",
		"server.podDisruptionBudget.unhealthyPodEvictionPolicy",
		"server.service.nodePort",
		"server.service.gRPC.nodePort",
		"server.verticalAutoscaler.updateMode",
		"server.verticalAutoscaler.containerPolicies":
		return true
	}
	return false
}

// UnknownPaths lists the keys of values that the chart, judged by its default values, does
// not know: typos and settings in the wrong place, which Helm silently ignores. Keys under
// maps that default to empty ({} annotations, labels…) and under pass-through sections are
// accepted.
func UnknownPaths(values, chartDefaults map[string]any) []string {
	var out []string
	walkUnknown(nil, values, chartDefaults, &out)
	slices.Sort(out)
	return out
}

func walkUnknown(prefix []string, values, defaults map[string]any, out *[]string) {
	if isFreeForm(pathString(prefix...)) {
		return
	}
	for k, v := range values {
		keys := append(slices.Clone(prefix), k)
		d, known := defaults[k]
		if !known && len(prefix) == 0 && k == remotewrite.NotesKey {
			continue
		}
		if !known {
			if len(defaults) > 0 && !isCommentedChartKey(pathString(keys...)) {
				*out = append(*out, pathString(keys...))
			}
			continue
		}
		vm, vIsMap := v.(map[string]any)
		dm, dIsMap := d.(map[string]any)
		if vIsMap && dIsMap {
			walkUnknown(keys, vm, dm, out)
		}
	}
}
