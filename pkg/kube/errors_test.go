package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestExplainAPIError(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	forbidden := apierrors.NewForbidden(gr, "linkerd-config", errors.New(`User "alice" cannot get resource "configmaps"`))
	notFound := apierrors.NewNotFound(gr, "linkerd-config")
	other := errors.New("connection refused")
	tests := []struct {
		name                            string
		verb, resource, namespace, item string
		err                             error
		want                            string
	}{
		{"denied get of a named object", "get", "configmaps", "linkerd", "linkerd-config", forbidden,
			`permission denied: cannot get configmaps "linkerd-config" in namespace "linkerd"; ask a cluster admin to grant it (check with kubectl auth can-i get configmaps -n linkerd)`},
		{"denied list across namespaces", "list", "servers.policy.linkerd.io", "", "", forbidden,
			`permission denied: cannot list servers.policy.linkerd.io; ask a cluster admin to grant it (check with kubectl auth can-i list servers.policy.linkerd.io --all-namespaces)`},
		{"missing object", "get", "configmaps", "linkerd", "linkerd-config", notFound,
			`cannot get configmaps "linkerd-config" in namespace "linkerd": it does not exist`},
		{"other failure keeps the server's reason", "list", "storageclasses", "", "", other,
			`cannot list storageclasses: connection refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExplainAPIError(tt.verb, tt.resource, tt.namespace, tt.item, tt.err)
			if got.Error() != tt.want {
				t.Errorf("ExplainAPIError =\n  %s\nwant\n  %s", got, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("ExplainAPIError does not wrap %v", tt.err)
			}
			if apierrors.IsForbidden(got) != apierrors.IsForbidden(tt.err) || apierrors.IsNotFound(got) != apierrors.IsNotFound(tt.err) {
				t.Error("ExplainAPIError changed the error's API reason")
			}
		})
	}
}

func TestResourceName(t *testing.T) {
	tests := []struct {
		gvr  schema.GroupVersionResource
		want string
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, "pods"},
		{schema.GroupVersionResource{Group: "policy.linkerd.io", Version: "v1beta3", Resource: "servers"}, "servers.policy.linkerd.io"},
	}
	for _, tt := range tests {
		if got := ResourceName(tt.gvr); got != tt.want {
			t.Errorf("ResourceName(%v) = %q, want %q", tt.gvr, got, tt.want)
		}
	}
}

func TestExplainAPIErrorTimeoutNamesTheAPIServer(t *testing.T) {
	err := ExplainAPIError("list", "storageclasses", "", "", fmt.Errorf("Get \"https://127.0.0.1:6443/apis/storage.k8s.io/v1/storageclasses\": %w", context.DeadlineExceeded))
	if !strings.Contains(err.Error(), "the Kubernetes API server did not answer in time") || !strings.Contains(err.Error(), "--request-timeout") {
		t.Errorf("timeout explained as %q", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the explanation lost the cause: %v", err)
	}
}
