package kube

import (
	"context"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestRulesAllow(t *testing.T) {
	rules := []authv1.ResourceRule{
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "services"}},
		{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"pods/portforward"}},
		{Verbs: []string{"*"}, APIGroups: []string{"apps"}, Resources: []string{"*"}},
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"linkerd-config"}},
		{Verbs: []string{"get"}, APIGroups: []string{"*"}, Resources: []string{"*/status"}},
	}
	for _, tc := range []struct {
		ra   authv1.ResourceAttributes
		want bool
	}{
		{authv1.ResourceAttributes{Verb: "list", Resource: "pods"}, true},
		{authv1.ResourceAttributes{Verb: "delete", Resource: "pods"}, false},
		{authv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "portforward"}, true},
		{authv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec"}, false},
		{authv1.ResourceAttributes{Verb: "patch", Group: "apps", Resource: "deployments"}, true},
		{authv1.ResourceAttributes{Verb: "list", Group: "batch", Resource: "jobs"}, false},
		{authv1.ResourceAttributes{Verb: "get", Resource: "configmaps", Name: "linkerd-config"}, true},
		{authv1.ResourceAttributes{Verb: "get", Resource: "configmaps", Name: "other"}, false},
		{authv1.ResourceAttributes{Verb: "get", Resource: "configmaps"}, false},
		{authv1.ResourceAttributes{Verb: "get", Group: "batch", Resource: "jobs", Subresource: "status"}, true},
	} {
		if got := RulesAllow(rules, &tc.ra); got != tc.want {
			t.Errorf("RulesAllow(%+v) = %v, want %v", tc.ra, got, tc.want)
		}
	}
}

// Namespaced questions are answered by one rules review per namespace; what
// the rules do not grant, and cluster-scoped questions, are decided by a
// SelfSubjectAccessReview, so an incomplete rules review cannot deny.
func TestAccessCheckerAsksOneRulesReviewPerNamespace(t *testing.T) {
	kc := fake.NewClientset()
	kc.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectRulesReview).DeepCopy()
		r.Status.Incomplete = true // as with a webhook authorizer: the SSAR may still allow more
		r.Status.ResourceRules = []authv1.ResourceRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}
		return true, r, nil
	})
	var asked []string
	kc.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview).DeepCopy()
		ra := r.Spec.ResourceAttributes
		asked = append(asked, ra.Verb+" "+ra.Resource+" "+ra.Namespace)
		r.Status.Allowed = ra.Verb == "watch" // the webhook allows watching
		return true, r, nil
	})
	ac := NewAccessChecker(kc)
	ctx := context.Background()
	for _, tc := range []struct {
		ra   authv1.ResourceAttributes
		want bool
	}{
		{authv1.ResourceAttributes{Namespace: "a", Verb: "get", Resource: "pods"}, true},
		{authv1.ResourceAttributes{Namespace: "a", Verb: "list", Resource: "pods"}, true},
		{authv1.ResourceAttributes{Namespace: "b", Verb: "list", Resource: "pods"}, true},
		{authv1.ResourceAttributes{Namespace: "a", Verb: "watch", Resource: "pods"}, true},
		{authv1.ResourceAttributes{Namespace: "a", Verb: "delete", Resource: "pods"}, false},
		{authv1.ResourceAttributes{Verb: "list", Resource: "pods"}, false},
	} {
		got, err := ac.Allowed(ctx, tc.ra)
		if err != nil || got != tc.want {
			t.Errorf("Allowed(%+v) = %v, %v; want %v", tc.ra, got, err, tc.want)
		}
	}
	rulesReviews := 0
	for _, a := range kc.Actions() {
		if a.GetResource().Resource == "selfsubjectrulesreviews" {
			rulesReviews++
		}
	}
	if rulesReviews != 2 {
		t.Errorf("%d rules reviews for two namespaces; want 2", rulesReviews)
	}
	want := []string{"watch pods a", "delete pods a", "list pods "}
	if len(asked) != len(want) {
		t.Fatalf("SelfSubjectAccessReviews asked: %q; want %q", asked, want)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Errorf("SelfSubjectAccessReviews asked: %q; want %q", asked, want)
		}
	}
}
