package kube

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ExplainAPIError turns a failed API request into a message that says what was attempted:
// verb on resource (as kubectl names it, "pods" or "servers.policy.linkerd.io"), the object
// name when there is one, and the namespace ("" for a cluster-scoped resource or a request
// across all namespaces). A denial names the permission to ask a cluster admin for and the
// kubectl auth can-i command that confirms it; a missing object says so. The result wraps
// err, so apierrors.IsForbidden and friends still see it.
func ExplainAPIError(verb, resource, namespace, name string, err error) error {
	target := resource
	if name != "" {
		target = fmt.Sprintf("%s %q", resource, name)
	}
	where := ""
	if namespace != "" {
		where = fmt.Sprintf(" in namespace %q", namespace)
	}
	switch {
	case apierrors.IsForbidden(err):
		scope := " --all-namespaces"
		if namespace != "" {
			scope = " -n " + namespace
		}
		// The server's own text adds only the user's name to this.
		return &explainedError{err: err, msg: fmt.Sprintf("permission denied: cannot %s %s%s; ask a cluster admin to grant it (check with kubectl auth can-i %s %s%s)",
			verb, target, where, verb, resource, scope)}
	case apierrors.IsNotFound(err):
		return &explainedError{err: err, msg: fmt.Sprintf("cannot %s %s%s: it does not exist", verb, target, where)}
	case errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err):
		return &explainedError{err: err, msg: fmt.Sprintf("cannot %s %s%s: the Kubernetes API server did not answer in time (%v); check that it is reachable and healthy, or raise --request-timeout",
			verb, target, where, err)}
	}
	return fmt.Errorf("cannot %s %s%s: %w", verb, target, where, err)
}

// ResourceName is a resource as kubectl names it: the plural, followed by the group
// unless it is the core group.
func ResourceName(gvr schema.GroupVersionResource) string {
	return gvr.GroupResource().String()
}

// explainedError replaces an API error's text while keeping it for errors.Is and As.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }
