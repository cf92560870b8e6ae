package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Access is a set of permissions a step of the install needs on one kind of object.
type Access struct {
	Group    string
	Resource string
	// Subresource, e.g. "portforward" of pods; empty for the resource itself.
	Subresource string
	// Namespace is where; empty for cluster-scoped resources.
	Namespace string
	Verbs     []string
	// Kind names the objects for people, plural: "ClusterRoles".
	Kind string
	// Why the install needs them.
	Why string
}

// Description says what the permission is for people: "can get and patch Deployments in namespace x".
func (a Access) Description() string {
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace
	}
	return fmt.Sprintf("can %s %s %s", joinAnd(a.Verbs), a.Kind, where)
}

func (a Access) resourceName() string {
	name := a.Resource
	if a.Group != "" {
		name += "." + a.Group
	}
	if a.Subresource != "" {
		name += "/" + a.Subresource
	}
	return name
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// AccessChecker asks the API server what the current user may do, each question once.
// A namespaced question is first answered from one SelfSubjectRulesReview of its
// namespace (a rule that allows it settles it); what the rules do not allow, or a
// cluster-scoped question, goes to a SelfSubjectAccessReview. Rules are only additive
// and a rules review may be incomplete (webhook authorizers), so only a SelfSubjectAccessReview
// may say no: the rules review saves requests, it never decides a denial.
type AccessChecker struct {
	kc    kubernetes.Interface
	mu    sync.Mutex
	cache map[string]accessAnswer
	rules map[string]*nsRules
}

// nsRules is the answer of one namespace's SelfSubjectRulesReview, fetched once.
type nsRules struct {
	once  sync.Once
	rules []authv1.ResourceRule
	err   error
}

type accessAnswer struct {
	allowed bool
	err     error
}

// NewAccessChecker returns a checker asking kc.
func NewAccessChecker(kc kubernetes.Interface) *AccessChecker {
	return &AccessChecker{kc: kc, cache: map[string]accessAnswer{}, rules: map[string]*nsRules{}}
}

// rulesAllow reports whether the namespace's rules review grants ra. A failed
// review (an old API server, no permission to ask) allows nothing.
func (c *AccessChecker) rulesAllow(ctx context.Context, ra *authv1.ResourceAttributes) bool {
	c.mu.Lock()
	r, ok := c.rules[ra.Namespace]
	if !ok {
		r = &nsRules{}
		c.rules[ra.Namespace] = r
	}
	c.mu.Unlock()
	r.once.Do(func() {
		rev, err := c.kc.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authv1.SelfSubjectRulesReview{
			Spec: authv1.SelfSubjectRulesReviewSpec{Namespace: ra.Namespace},
		}, metav1.CreateOptions{})
		if err != nil {
			r.err = err
			return
		}
		r.rules = rev.Status.ResourceRules
	})
	if r.err != nil {
		return false
	}
	return RulesAllow(r.rules, ra)
}

// RulesAllow reports whether one of rules grants ra, with RBAC's matching:
// "*" matches every verb, group and resource, "*/sub" every resource's
// subresource sub, and a rule naming objects grants only those.
func RulesAllow(rules []authv1.ResourceRule, ra *authv1.ResourceAttributes) bool {
	res := ra.Resource
	if ra.Subresource != "" {
		res += "/" + ra.Subresource
	}
	for _, rule := range rules {
		if !matchesAny(rule.Verbs, ra.Verb) || !matchesAny(rule.APIGroups, ra.Group) {
			continue
		}
		if !matchesAny(rule.Resources, res) && (ra.Subresource == "" || !slices.Contains(rule.Resources, "*/"+ra.Subresource)) {
			continue
		}
		if len(rule.ResourceNames) > 0 && (ra.Name == "" || !slices.Contains(rule.ResourceNames, ra.Name)) {
			continue
		}
		return true
	}
	return false
}

func matchesAny(list []string, v string) bool {
	return slices.Contains(list, "*") || slices.Contains(list, v)
}

// Allowed answers one question: may the current user do ra?
func (c *AccessChecker) Allowed(ctx context.Context, ra authv1.ResourceAttributes) (bool, error) {
	return c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra})
}

func accessKey(spec authv1.SelfSubjectAccessReviewSpec) string {
	if ra := spec.ResourceAttributes; ra != nil {
		return strings.Join([]string{"r", ra.Namespace, ra.Verb, ra.Group, ra.Resource, ra.Subresource, ra.Name}, "\x00")
	}
	if nra := spec.NonResourceAttributes; nra != nil {
		return strings.Join([]string{"n", nra.Path, nra.Verb}, "\x00")
	}
	return ""
}

func (c *AccessChecker) allowed(ctx context.Context, spec authv1.SelfSubjectAccessReviewSpec) (bool, error) {
	key := accessKey(spec)
	c.mu.Lock()
	ans, ok := c.cache[key]
	c.mu.Unlock()
	if ok {
		return ans.allowed, ans.err
	}
	if ra := spec.ResourceAttributes; ra != nil && ra.Namespace != "" && c.rulesAllow(ctx, ra) {
		return true, nil
	}
	r, err := c.kc.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	ans = accessAnswer{err: err}
	if err == nil {
		ans.allowed = r.Status.Allowed
	}
	c.mu.Lock()
	c.cache[key] = ans
	c.mu.Unlock()
	return ans.allowed, ans.err
}

// Check returns nil when every verb of a is allowed, else an error naming the missing
// ones and the fix.
func (c *AccessChecker) Check(ctx context.Context, a Access) error {
	missing := make([]string, len(a.Verbs))
	errs := make([]error, len(a.Verbs))
	var wg sync.WaitGroup
	for i, verb := range a.Verbs {
		wg.Go(func() {
			ok, err := c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: a.Namespace, Verb: verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource,
			}})
			switch {
			case err != nil:
				errs[i] = err
			case !ok:
				missing[i] = verb
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("asking the API server whether you may %s %s: %w", joinAnd(a.Verbs), a.resourceName(), err)
		}
	}
	missing = slices.DeleteFunc(missing, func(s string) bool { return s == "" })
	if len(missing) == 0 {
		return nil
	}
	where := "cluster-wide (a ClusterRole)"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace + " (a Role, or a ClusterRole bound there)"
	}
	return fmt.Errorf("you may not %s %s (%s); ask a cluster administrator for that %s, or use a context that may",
		joinAnd(missing), a.resourceName(), a.Why, where)
}

// CheckGrant verifies that the user may create a ClusterRole with these rules (and bind
// it): RBAC refuses to grant permissions the creator does not hold, unless they may
// escalate and bind.
func (c *AccessChecker) CheckGrant(ctx context.Context, role rbacv1.ClusterRole) error {
	type ask struct {
		spec     authv1.SelfSubjectAccessReviewSpec
		verb     string
		resource string
	}
	var asks []ask
	for _, rule := range role.Rules {
		for _, url := range rule.NonResourceURLs {
			for _, verb := range rule.Verbs {
				asks = append(asks, ask{authv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authv1.NonResourceAttributes{Path: url, Verb: verb}}, verb, url})
			}
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				name := res
				if group != "" {
					name = resource + "." + group
					if sub != "" {
						name += "/" + sub
					}
				}
				for _, verb := range rule.Verbs {
					asks = append(asks, ask{authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
						Verb: verb, Group: group, Resource: resource, Subresource: sub,
					}}, verb, name})
				}
			}
		}
	}
	lacking := make([]bool, len(asks))
	errs := make([]error, len(asks))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, a := range asks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ok, err := c.allowed(ctx, a.spec)
			errs[i], lacking[i] = err, err == nil && !ok
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("asking the API server about the permissions of ClusterRole %s: %w", role.Name, err)
		}
	}
	// Group what is lacking as "get, list and watch nodes, pods", one group per verb set.
	var resources []string
	verbs := map[string][]string{}
	for i, a := range asks {
		if !lacking[i] {
			continue
		}
		if _, seen := verbs[a.resource]; !seen {
			resources = append(resources, a.resource)
		}
		verbs[a.resource] = append(verbs[a.resource], a.verb)
	}
	if len(resources) == 0 {
		return nil
	}
	var groups []string
	byVerbs := map[string][]string{}
	for _, r := range resources {
		key := joinAnd(verbs[r])
		if _, seen := byVerbs[key]; !seen {
			groups = append(groups, key)
		}
		byVerbs[key] = append(byVerbs[key], r)
	}
	var missing []string
	for _, g := range groups {
		missing = append(missing, g+" "+strings.Join(byVerbs[g], ", "))
	}
	escalate, err := c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{Verb: "escalate", Group: rbacv1.GroupName, Resource: "clusterroles"}})
	if err != nil {
		return err
	}
	bind, err := c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{Verb: "bind", Group: rbacv1.GroupName, Resource: "clusterroles"}})
	if err != nil {
		return err
	}
	if escalate && bind {
		return nil
	}
	return fmt.Errorf("ClusterRole %s lets Prometheus %s, which you may not do yourself, so Kubernetes will refuse to create or bind it (RBAC prevents privilege escalation); run the install as a cluster administrator, or get the escalate and bind verbs on clusterroles",
		role.Name, strings.Join(missing, "; "))
}
