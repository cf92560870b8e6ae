package sim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// secretMount is one Secret volume the server container mounts, and where
// its files live on this machine instead.
type secretMount struct {
	mountPath string // in the pod, e.g. /etc/meshmon/secrets/vm-token
	local     string // here: a directory, or one file for a subPath mount
}

// serverContainer is the container of a pod spec that runs Prometheus: the
// one serving port 9090.
func serverContainer(spec *corev1.PodSpec) (*corev1.Container, error) {
	for i := range spec.Containers {
		for _, p := range spec.Containers[i].Ports {
			if p.ContainerPort == 9090 {
				return &spec.Containers[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no container serves port 9090 (of %d containers)", len(spec.Containers))
}

// materialiseSecrets does what the kubelet does for the server container's
// Secret volumes: it reads each mounted Secret of Deployment o.Deployment and
// writes its keys as files (0600) under Dir/secrets/<volume>, replacing
// changed contents atomically and removing keys that are gone. It returns
// the mounts, longest mount path first.
func (p *Prometheus) materialiseSecrets(ctx context.Context) ([]secretMount, error) {
	if p.o.Deployment == "" {
		return nil, nil
	}
	d, err := p.kc.AppsV1().Deployments(p.o.Namespace).Get(ctx, p.o.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the server Deployment for its Secret mounts: %w", err)
	}
	c, err := serverContainer(&d.Spec.Template.Spec)
	if err != nil {
		return nil, fmt.Errorf("Deployment %s/%s: %w", p.o.Namespace, p.o.Deployment, err)
	}
	volumes := map[string]*corev1.SecretVolumeSource{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			volumes[v.Name] = v.Secret
		}
	}
	var mounts []secretMount
	for _, vm := range c.VolumeMounts {
		src, ok := volumes[vm.Name]
		if !ok {
			continue
		}
		dir := filepath.Join(p.o.Dir, "secrets", vm.Name)
		present, err := p.writeSecret(ctx, src, dir)
		if err != nil {
			return nil, err
		}
		if !present {
			continue
		}
		m := secretMount{mountPath: filepath.Clean(vm.MountPath), local: dir}
		if vm.SubPath != "" {
			m.local = filepath.Join(dir, vm.SubPath)
		}
		mounts = append(mounts, m)
	}
	// Longest first: a mount inside another one wins.
	slices.SortFunc(mounts, func(a, b secretMount) int { return len(b.mountPath) - len(a.mountPath) })
	return mounts, nil
}

// writeSecret writes the keys of the Secret behind src into dir; present is
// false for an optional Secret that does not exist.
func (p *Prometheus) writeSecret(ctx context.Context, src *corev1.SecretVolumeSource, dir string) (present bool, err error) {
	s, err := p.kc.CoreV1().Secrets(p.o.Namespace).Get(ctx, src.SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && src.Optional != nil && *src.Optional:
		return false, nil
	case err != nil:
		// As the kubelet, which keeps the pod from starting.
		return false, fmt.Errorf("mounting Secret %s/%s into the server: %w", p.o.Namespace, src.SecretName, err)
	}
	files := map[string][]byte{}
	if len(src.Items) == 0 {
		for k, v := range s.Data {
			files[k] = v
		}
	}
	for _, it := range src.Items {
		v, ok := s.Data[it.Key]
		if !ok {
			return false, fmt.Errorf("mounting Secret %s/%s into the server: no key %q", p.o.Namespace, src.SecretName, it.Key)
		}
		files[it.Path] = v
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("writing Secret %s: %w", src.SecretName, err)
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("writing Secret %s: %w", src.SecretName, err)
	}
	for _, e := range old {
		if _, keep := files[e.Name()]; !keep {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return false, fmt.Errorf("writing Secret %s: %w", src.SecretName, err)
			}
		}
	}
	for name, v := range files {
		if err := writeIfChanged(filepath.Join(dir, name), v); err != nil {
			return false, fmt.Errorf("writing Secret %s key %s: %w", src.SecretName, name, err)
		}
	}
	return true, nil
}

// writeIfChanged replaces path with data (0600) through a rename, so a
// reader sees the old or the new content, never half of one.
func writeIfChanged(path string, data []byte) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return nil
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rewriteMountPaths replaces, in every string of a prometheus.yml, a path
// inside one of the mounts (e.g. a remote_write credentials_file) by the
// same path under the mount's local copy.
func rewriteMountPaths(promYAML string, mounts []secretMount) (string, error) {
	if len(mounts) == 0 {
		return promYAML, nil
	}
	var cfg any
	if err := yaml.Unmarshal([]byte(promYAML), &cfg); err != nil {
		return "", fmt.Errorf("parsing prometheus.yml: %w", err)
	}
	out, err := yaml.Marshal(replacePaths(cfg, mounts))
	if err != nil {
		return "", fmt.Errorf("writing prometheus.yml: %w", err)
	}
	return string(out), nil
}

func replacePaths(v any, mounts []secretMount) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = replacePaths(e, mounts)
		}
	case []any:
		for i, e := range x {
			x[i] = replacePaths(e, mounts)
		}
	case string:
		for _, m := range mounts {
			if x == m.mountPath {
				return m.local
			}
			if rest, ok := strings.CutPrefix(x, m.mountPath+"/"); ok {
				return filepath.Join(m.local, rest)
			}
		}
	}
	return v
}
