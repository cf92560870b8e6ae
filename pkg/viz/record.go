package viz

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Where meshmon keeps what it changed, so restore can put back exactly what was there.
const (
	// AnnotationRecord, on the viz namespace, holds the record (JSON) of the state before
	// meshmon's first configure. Later configures keep the first values it recorded.
	AnnotationRecord = "meshmon.io/viz-previous"
	// BackupConfigMap, in the viz namespace, holds the bundled Prometheus Deployment meshmon
	// removed: metadata labels and annotations and the whole spec, as the API server had them.
	BackupConfigMap = "meshmon-viz-backup"
	// BackupKey is the ConfigMap key holding the Deployment as JSON.
	BackupKey = "deployment-prometheus.json"

	recordSchema   = 1
	fieldManager   = "meshmon"
	managedByLabel = "app.kubernetes.io/managed-by"
	// revisionAnnotation is set by the Deployment controller, never by an installer; a
	// recreated Deployment gets its own.
	revisionAnnotation = "deployment.kubernetes.io/revision"
)

// record is the previous state of everything Configure touches. A nil part was not touched.
type record struct {
	Schema int    `json:"schema"`
	Method Method `json:"method"`
	// URL is what meshmon last set; restore undoes a change only while this value is in place,
	// so an edit made since is never clobbered.
	URL string `json:"url"`
	// ExternalPrometheus is the namespace annotation before meshmon set it.
	ExternalPrometheus *previousString `json:"externalPrometheus,omitempty"`
	MetricsAPI         *previousArg    `json:"metricsAPI,omitempty"`
	Bundled            *bundledRecord  `json:"bundled,omitempty"`
	Helm               *helmRecord     `json:"helm,omitempty"`
	Heartbeat          *previousArg    `json:"heartbeat,omitempty"`
}

type previousString struct {
	Set   bool   `json:"set"`
	Value string `json:"value,omitempty"`
}

// previousArg is a workload's -prometheus-url before meshmon set it.
type previousArg struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Container string `json:"container"`
	// Tokens are the flag's args as written (empty: the flag was absent).
	Tokens []string `json:"tokens"`
}

// Bundled Prometheus treatments.
const (
	bundledDeleted = "deleted"
	bundledScaled  = "scaled"
)

type bundledRecord struct {
	// Mode is bundledDeleted (a copy is in BackupConfigMap) or bundledScaled.
	Mode     string `json:"mode"`
	Replicas int32  `json:"replicas"`
}

// helmRecord holds the release's user-supplied values of the two keys meshmon sets.
type helmRecord struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// Revision is the release revision before meshmon's first upgrade.
	Revision      int           `json:"revision"`
	PrometheusURL previousValue `json:"prometheusUrl"`
	// PrometheusMap says whether the values had a `prometheus` map at all.
	PrometheusMap     bool          `json:"prometheusMap"`
	PrometheusEnabled previousValue `json:"prometheusEnabled"`
}

type previousValue struct {
	Set   bool `json:"set"`
	Value any  `json:"value,omitempty"`
}

func readRecord(ns *corev1.Namespace) (*record, error) {
	raw, ok := ns.Annotations[AnnotationRecord]
	if !ok {
		return nil, nil
	}
	var r record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("annotation %s on namespace %s is not meshmon's record (%v); it was edited by hand: restore the original value or remove it, then retry",
			AnnotationRecord, ns.Name, err)
	}
	if r.Schema != recordSchema {
		return nil, fmt.Errorf("annotation %s on namespace %s has record schema %d, this meshmon reads %d; use the meshmon version that configured viz",
			AnnotationRecord, ns.Name, r.Schema, recordSchema)
	}
	return &r, nil
}

func (r *record) encode() (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", AnnotationRecord, err)
	}
	return string(b), nil
}

// merged keeps every part of old (the state before meshmon first touched it) and adds the
// parts first recorded now.
func (r *record) merged(old *record) *record {
	if old == nil {
		return r
	}
	out := *old
	out.URL = r.URL
	if out.ExternalPrometheus == nil {
		out.ExternalPrometheus = r.ExternalPrometheus
	}
	if out.MetricsAPI == nil {
		out.MetricsAPI = r.MetricsAPI
	}
	if out.Bundled == nil {
		out.Bundled = r.Bundled
	}
	if out.Helm == nil {
		out.Helm = r.Helm
	}
	if out.Heartbeat == nil {
		out.Heartbeat = r.Heartbeat
	}
	return &out
}

// backupObject is the part of the bundled Deployment restore recreates.
type backupObject struct {
	APIVersion string                `json:"apiVersion"`
	Kind       string                `json:"kind"`
	Metadata   backupMeta            `json:"metadata"`
	Spec       appsv1.DeploymentSpec `json:"spec"`
}

type backupMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// backupConfigMap copies d into a ConfigMap. replicas overrides the spec's when the
// Deployment was scaled down by an earlier configure.
func backupConfigMap(d *appsv1.Deployment, replicas *int32) (*corev1.ConfigMap, error) {
	ann := map[string]string{}
	for k, v := range d.Annotations {
		if k != revisionAnnotation {
			ann[k] = v
		}
	}
	if len(ann) == 0 {
		ann = nil
	}
	spec := *d.Spec.DeepCopy()
	if replicas != nil {
		spec.Replicas = replicas
	}
	b, err := json.Marshal(backupObject{
		APIVersion: "apps/v1", Kind: "Deployment",
		Metadata: backupMeta{Name: d.Name, Namespace: d.Namespace, Labels: d.Labels, Annotations: ann},
		Spec:     spec,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: BackupConfigMap, Namespace: d.Namespace,
			Labels: map[string]string{managedByLabel: fieldManager},
			Annotations: map[string]string{
				"meshmon.io/purpose": fmt.Sprintf("copy of Deployment %s removed by `meshmon viz configure`; `meshmon viz restore` recreates it", d.Name),
			},
		},
		Data: map[string]string{BackupKey: string(b)},
	}, nil
}

// deploymentFromBackup rebuilds the Deployment a backup ConfigMap holds.
func deploymentFromBackup(cm *corev1.ConfigMap) (*appsv1.Deployment, error) {
	raw, ok := cm.Data[BackupKey]
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s/%s has no key %s; it was edited by hand, so the bundled Prometheus cannot be recreated: reinstall viz", cm.Namespace, cm.Name, BackupKey)
	}
	var b backupObject
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s is not a Deployment copy (%v); reinstall viz to get the bundled Prometheus back", cm.Namespace, cm.Name, BackupKey, err)
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: b.APIVersion, Kind: b.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: b.Metadata.Name, Namespace: b.Metadata.Namespace, Labels: b.Metadata.Labels, Annotations: b.Metadata.Annotations},
		Spec:       b.Spec,
	}, nil
}
