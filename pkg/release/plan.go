package release

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/helmvalues"
	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// Plan is what an install would apply: the chart, the values meshmon computed merged
// with the user's, and the manifest they render to.
type Plan struct {
	Chart *LoadedChart
	// Options are the resolved values options (defaults filled in).
	Options ValuesOptions
	// Values are meshmon's values with the user's overrides laid over them.
	Values map[string]any
	// Warnings are about options and overrides that work but will bite later.
	Warnings []Warning
	// Manifest is the chart rendered client-side, hooks included.
	Manifest string
	// Carried are the jobs kept from the deployed release (PlanInput.CarryJobs).
	Carried []string
	// CarriedRemoteWrite are the remote-write endpoints kept from the deployed release.
	CarriedRemoteWrite []string
}

// PlanInput is what a Plan is made from.
type PlanInput struct {
	Chart  *LoadedChart
	Values ValuesOptions
	// UserValues are the -f/--set overrides, already merged in Helm's order.
	UserValues map[string]any
	// KubeVersion is the cluster's version the chart renders for (e.g. v1.37.1); empty
	// means Helm's default.
	KubeVersion string
	// CarryJobs are scrape jobs of the deployed release to keep when the planned values
	// lack a job of the same name: the federation sources added with `federate add`.
	CarryJobs []map[string]any
	// Deployed are the deployed release's values, if any: the remote-write endpoints added
	// with `remote-write add`, their notes and Secret mounts are kept from them.
	Deployed map[string]any
}

// NewPlan computes the values and renders the chart without contacting the cluster.
func NewPlan(ctx context.Context, in PlanInput) (*Plan, error) {
	if in.Chart == nil || in.Chart.Chart == nil {
		return nil, errors.New("no chart to plan with")
	}
	resolved, warnings, err := in.Values.Resolve()
	if err != nil {
		return nil, err
	}
	ours, _, err := Values(resolved)
	if err != nil {
		return nil, err
	}
	merged := helmvalues.Merge(ours, in.UserValues)
	carried := carryJobs(merged, in.CarryJobs)
	carriedRW, err := remotewrite.Carry(merged, in.Deployed)
	if err != nil {
		return nil, fmt.Errorf("keeping the deployed release's remote-write endpoints: %w", err)
	}
	// Invariants of meshmon's own values are clean (tested), so everything it finds
	// comes from the user's overrides.
	warnings = append(warnings, Invariants(merged)...)
	p := &Plan{Chart: in.Chart, Options: resolved, Values: merged, Warnings: warnings, Carried: carried, CarriedRemoteWrite: carriedRW}
	manifest, err := render(ctx, in.Chart, resolved.ReleaseName, resolved.Namespace, in.KubeVersion, merged)
	if err != nil {
		return nil, err
	}
	p.Manifest = manifest
	return p, nil
}

// render runs Helm's client-side dry run: nothing is read from or written to a cluster.
func render(ctx context.Context, lc *LoadedChart, name, namespace, kubeVersion string, values map[string]any) (string, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	inst := action.NewInstall(cfg)
	inst.ReleaseName = name
	inst.Namespace = namespace
	inst.DryRunStrategy = action.DryRunClient
	if kubeVersion != "" {
		kv, err := common.ParseKubeVersion(kubeVersion)
		if err != nil {
			return "", fmt.Errorf("parsing the cluster version %q: %w", kubeVersion, err)
		}
		inst.KubeVersion = kv
	}
	r, err := inst.RunWithContext(ctx, lc.Chart, values)
	if err != nil {
		return "", fmt.Errorf("rendering chart %s %s with the merged values: %w; check your -f/--set overrides against the chart's values", lc.Name(), lc.Version(), err)
	}
	v1, ok := r.(*rel.Release)
	if !ok {
		return "", fmt.Errorf("rendering chart %s: unexpected release type %T", lc.Name(), r)
	}
	var b strings.Builder
	b.WriteString(v1.Manifest)
	for _, h := range v1.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

// ValuesHeader renders the values as a YAML comment block, for the top of a dry run.
func ValuesHeader(values map[string]any) (string, error) {
	raw, err := RenderValuesYAML(values)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		b.WriteString("#   " + line + "\n")
	}
	return b.String(), nil
}

// ManifestObject is one object of a rendered manifest.
type ManifestObject struct {
	GVK       schema.GroupVersionKind
	Name      string
	Namespace string
}

// ManifestObjects lists the objects of a multi-document manifest.
func ManifestObjects(manifest string) ([]ManifestObject, error) {
	docs, err := manifestDocs(manifest)
	if err != nil {
		return nil, err
	}
	var out []ManifestObject
	for _, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("parsing a rendered object: %w", err)
		}
		if head.Kind == "" {
			continue
		}
		gv, err := schema.ParseGroupVersion(head.APIVersion)
		if err != nil {
			return nil, fmt.Errorf("rendered %s %s has an invalid apiVersion %q: %w", head.Kind, head.Metadata.Name, head.APIVersion, err)
		}
		out = append(out, ManifestObject{GVK: gv.WithKind(head.Kind), Name: head.Metadata.Name, Namespace: head.Metadata.Namespace})
	}
	return out, nil
}

// manifestDocs splits a multi-document YAML stream, dropping empty documents.
func manifestDocs(manifest string) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var out [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("splitting the rendered manifest: %w", err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			out = append(out, doc)
		}
	}
}

// canonicalJSON is a stable encoding for comparing values: map keys sorted, numbers
// as JSON writes them whatever Go type they had.
func canonicalJSON(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var norm any
	if err := json.Unmarshal(raw, &norm); err != nil {
		return "", err
	}
	out, err := json.Marshal(norm)
	return string(out), err
}
