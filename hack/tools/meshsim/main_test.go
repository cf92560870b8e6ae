package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestTemplateSetup(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "linkerd-proxy"},
			{Name: "reloader", Args: []string{"--watched-dir=/etc/config"}, VolumeMounts: []corev1.VolumeMount{{Name: "config-volume", MountPath: "/etc/config"}}},
			{Name: "prometheus-server", Args: []string{
				"--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=45GB", "--config.file=/etc/config/prometheus.yml",
				"--storage.tsdb.path=/data", "--web.enable-lifecycle",
			}, VolumeMounts: []corev1.VolumeMount{{Name: "storage-volume", MountPath: "/data"}, {Name: "config-volume", MountPath: "/etc/config/"}}},
		},
		Volumes: []corev1.Volume{
			{Name: "storage-volume"},
			{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "prometheus-server"}}}},
		},
	}}
	s, err := templateSetup("Deployment linkerd-viz/prometheus-server", tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if s.configMap != "prometheus-server" || s.configKey != "prometheus.yml" || strings.Join(s.args, " ") != "--storage.tsdb.retention.time=15d --storage.tsdb.retention.size=45GB" {
		t.Errorf("setup = %+v", s)
	}

	tmpl.Spec.Volumes[1].ConfigMap = nil
	if _, err := templateSetup("Deployment linkerd-viz/prometheus-server", tmpl); err == nil ||
		err.Error() != "Deployment linkerd-viz/prometheus-server: container prometheus-server reads /etc/config/prometheus.yml, but no ConfigMap volume is mounted at /etc/config" {
		t.Errorf("config volume not a ConfigMap: %v", err)
	}
	tmpl.Spec.Containers = tmpl.Spec.Containers[:2]
	if _, err := templateSetup("StatefulSet x/y", tmpl); err == nil || !strings.Contains(err.Error(), "no container runs Prometheus with --config.file") {
		t.Errorf("no Prometheus container: %v", err)
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{nil, {"down"}, {"up"}, {"up", "--kubeconfig", "k"}, {"up", "--kubeconfig", "k", "--state", "s", "extra"}} {
		if err := run(context.Background(), args, &out, &errOut); err == nil || !strings.Contains(err.Error(), "usage: meshsim up --kubeconfig FILE --state DIR") {
			t.Errorf("%q: %v", args, err)
		}
	}
	if err := run(context.Background(), []string{"up", "-h"}, &out, &errOut); err != nil || !strings.Contains(errOut.String(), "-prometheus-bin") {
		t.Errorf("-h: %v\n%s", err, errOut.String())
	}
}
