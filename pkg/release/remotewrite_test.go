package release

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/remotewrite"
)

// TestInstallKeepsRemoteWrite: an endpoint added with UpdateValues (as remote-write add
// does) survives an install with the same flags: the plan carries the entry, its note,
// its Secret mount and the cluster label, and finds the release up to date.
func TestInstallKeepsRemoteWrite(t *testing.T) {
	tg, _ := memTarget(t)
	ctx := context.Background()
	o := UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond}}
	mustApply(t, tg, testPlan(t, nil))
	ep := remotewrite.Endpoint{
		Name: "vm", URL: "http://vm.example.com:8428/api/v1/write",
		BearerToken: &remotewrite.SecretKeyRef{Secret: "vm-token", Key: "token"},
		QueryURL:    "http://vm.example.com:8428",
	}
	add := func(current map[string]any) (map[string]any, bool, error) {
		out, changed, err := remotewrite.With(current, ep)
		if err != nil || remotewrite.ClusterLabel(out) != "" {
			return out, changed, err
		}
		return remotewrite.WithClusterLabel(out, "west"), true, nil
	}
	res, err := UpdateValues(ctx, tg, add, o)
	if err != nil || res.Action != ActionUpgrade {
		t.Fatalf("add: %+v %v", res, err)
	}
	if res, err := UpdateValues(ctx, tg, add, o); err != nil || res.Action != ActionNone {
		t.Fatalf("adding again: %+v %v", res, err)
	}
	deployed, err := tg.DeployedValues()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(ctx, PlanInput{Chart: loadFixtureChart(t), Values: defaultOptions(t), KubeVersion: "v1.37.1", Deployed: deployed})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(plan.CarriedRemoteWrite, ",") != "vm" {
		t.Errorf("carried %v", plan.CarriedRemoteWrite)
	}
	for _, want := range []string{"credentials_file: /etc/meshmon/secrets/vm-token/token", "secretName: vm-token", "mountPath: /etc/meshmon/secrets/vm-token", "cluster: west"} {
		if !strings.Contains(plan.Manifest, want) {
			t.Errorf("the rendered manifest lacks %q", want)
		}
	}
	eps, err := remotewrite.Endpoints(plan.Values)
	if err != nil || len(eps) != 1 || eps[0].QueryURL != ep.QueryURL {
		t.Errorf("endpoints of the plan: %+v %v", eps, err)
	}
	if st, err := Inspect(tg, plan); err != nil || st.Action != ActionNone {
		t.Errorf("install after remote-write add: %+v %v, want up to date", st, err)
	}
	if st, _ := Inspect(tg, testPlan(t, nil)); st.Action != ActionUpgrade {
		t.Errorf("a plan without the endpoint is %s; the comparison cannot tell", st.Action)
	}
	if unknown := UnknownPaths(plan.Values, fixtureYAMLMap(t, "prometheus-chart", "values.yaml")); len(unknown) != 0 {
		t.Errorf("unknown paths in the carried values: %v", unknown)
	}
}

// TestRemoteWriteTransforms: the cluster label is required or set in the same change,
// an unchanged endpoint makes no revision, the same name replaces in place, remove
// drops the entry and its mount; and no byte of the Helm release storage holds the
// Secrets' data.
func TestRemoteWriteTransforms(t *testing.T) {
	tg, _ := memTarget(t)
	ctx := context.Background()
	o := UpdateOptions{ApplyOptions: ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond}}
	mustApply(t, tg, testPlan(t, nil))
	const token, password = "tok-9f8e7d6c5b4a", "pw-0a1b2c3d4e5f"
	for name, data := range map[string]map[string][]byte{
		"vm-token": {"token": []byte(token)},
		"vm-basic": {"username": []byte("writer"), "password": []byte(password)},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tg.Namespace}, Data: data}
		if _, err := tg.Kube.CoreV1().Secrets(tg.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	basic := "vm-basic"
	ep := remotewrite.Endpoint{Name: "vm", URL: "https://vm.example.com/api/v1/write",
		BearerToken: &remotewrite.SecretKeyRef{Secret: "vm-token", Key: "token"}}
	mimir := remotewrite.Endpoint{Name: "mimir", URL: "https://mimir.example.com/api/v1/push", BasicAuth: &basic,
		Headers: map[string]string{"X-Scope-OrgID": "team-a"}}
	if err := remotewrite.CheckSecrets(ctx, tg.Kube, tg.Namespace, append(remotewrite.SecretsReferenced(ep), remotewrite.SecretsReferenced(mimir)...)); err != nil {
		t.Fatal(err)
	}
	missing := remotewrite.Endpoint{Name: "x", URL: ep.URL, BearerToken: &remotewrite.SecretKeyRef{Secret: "vm-token", Key: "nope"}}
	if err := remotewrite.CheckSecrets(ctx, tg.Kube, tg.Namespace, remotewrite.SecretsReferenced(missing)); err == nil ||
		!strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "kubectl create secret generic vm-token") || strings.Contains(err.Error(), token) {
		t.Errorf("missing key: %v", err)
	}
	add := func(cluster string) func(map[string]any) (map[string]any, bool, error) {
		return func(v map[string]any) (map[string]any, bool, error) {
			out, c1, err := WithRemoteWrite(v, ep, cluster)
			if err != nil {
				return nil, false, err
			}
			out, c2, err := WithRemoteWrite(out, mimir, "")
			return out, c1 || c2, err
		}
	}
	if _, err := UpdateValues(ctx, tg, add(""), o); !errors.Is(err, ErrNoClusterLabel) {
		t.Fatalf("without a cluster label: %v", err)
	}
	res, err := UpdateValues(ctx, tg, add("west"), o)
	if err != nil || res.Action != ActionUpgrade {
		t.Fatalf("add: %+v %v", res, err)
	}
	rev := res.Revision
	if res, err := UpdateValues(ctx, tg, add(""), o); err != nil || res.Action != ActionNone || res.Revision != rev {
		t.Fatalf("add unchanged: %+v %v", res, err)
	}
	ep.URL = "https://vm2.example.com/api/v1/write"
	if res, err := UpdateValues(ctx, tg, add(""), o); err != nil || res.Action != ActionUpgrade {
		t.Fatalf("replace: %+v %v", res, err)
	}
	values, _ := tg.DeployedValues()
	eps, _ := remotewrite.Endpoints(values)
	if len(eps) != 2 || eps[0].URL != ep.URL || remotewrite.ClusterLabel(values) != "west" {
		t.Fatalf("after replace: %+v", eps)
	}
	all, err := tg.Helm.Releases.ListReleases()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored), "/etc/meshmon/secrets/vm-token/token") || !strings.Contains(string(stored), "/etc/meshmon/secrets/vm-basic/password") {
		t.Fatal("the scan does not see the release's values")
	}
	for _, secret := range []string{token, password} {
		if strings.Contains(string(stored), secret) {
			t.Errorf("release storage holds a credential %q", secret)
		}
	}
	if _, err := UpdateValues(ctx, tg, func(v map[string]any) (map[string]any, bool, error) {
		out, err := WithoutRemoteWrite(v, "vm")
		return out, err == nil, err
	}, o); err != nil {
		t.Fatal(err)
	}
	values, _ = tg.DeployedValues()
	if eps, _ := remotewrite.Endpoints(values); len(eps) != 1 || eps[0].Name != "mimir" || len(remotewrite.Mounts(values)) != 1 {
		t.Errorf("after remove: %+v %v", eps, remotewrite.Mounts(values))
	}
	if _, err := WithoutRemoteWrite(values, "vm"); !errors.Is(err, ErrNoSuchRemoteWrite) {
		t.Errorf("removing again: %v", err)
	}
}
