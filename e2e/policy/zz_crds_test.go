//go:build e2e

package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshmon/meshmon/e2e/framework"
)

// This runs last (file order): it deletes the policy CRDs, which the cluster of this package
// does not get back.
func TestWithoutPolicyCRDs(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, _ := env.Clients(t)
	out := env.Kubectl(t, "get", "crd", "-o", "name")
	var crds []string
	for _, line := range strings.Fields(out) {
		if strings.HasSuffix(line, ".policy.linkerd.io") {
			crds = append(crds, line)
		}
	}
	if len(crds) == 0 {
		t.Fatal("the cluster has no policy.linkerd.io CRDs to remove")
	}
	// Throwaway: the cluster ends with this package, so the API server's cleanup of the CRDs'
	// instances (a finalizer that, for CRDs of one group deleted together, can fail with
	// "storage is (re)initializing" and back off for minutes) is skipped.
	env.Kubectl(t, append([]string{"delete", "--wait=false"}, crds...)...)
	for _, crd := range crds {
		r := env.Exec(t, nil, env.K8sBin+"/kubectl", "patch", crd, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
		if r.Code != 0 && !strings.Contains(r.Stderr, "NotFound") {
			t.Fatalf("removing the finalizer of %s: %s", crd, r.Stderr)
		}
	}
	framework.Eventually(t, 30*time.Second, func() error {
		for _, gv := range []string{"policy.linkerd.io/v1alpha1", "policy.linkerd.io/v1beta3"} {
			if _, err := kc.Discovery().ServerResourcesForGroupVersion(gv); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s is still served (err %v)", gv, err)
			}
		}
		return nil
	})

	for _, cmd := range [][]string{{"policy", "apply"}, {"policy", "show"}, {"policy", "allow-scrapes", "-n", "deny-ns"}} {
		r := env.Meshmon(t, "kubectl", cmd...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "Linkerd policy CRDs (policy.linkerd.io) are not installed") || !strings.Contains(r.Stderr, "linkerd install --crds") {
			t.Errorf("%v: exit %d\n%s", cmd, r.Code, r.Stderr)
		}
	}
	// Nothing to delete is not a failure: uninstall must get through.
	r := env.Meshmon(t, "kubectl", "policy", "delete")
	if r.Code != 0 || !strings.Contains(r.Stdout, "absent") {
		t.Errorf("policy delete without CRDs: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
