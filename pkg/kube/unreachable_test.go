package kube

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name, host, context string
		err                 error
		want                []string
	}{
		{"request timeout", "127.0.0.1:6443", "", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/version?timeout=500ms", Err: context.DeadlineExceeded},
			[]string{"the Kubernetes API server at 127.0.0.1:6443 did not answer in time", "context deadline exceeded", "--request-timeout"}},
		{"refused", "127.0.0.1:6443", "prod", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/version", Err: syscall.ECONNREFUSED},
			[]string{`cannot reach the Kubernetes API server at 127.0.0.1:6443 (context "prod")`, "--context/--kubeconfig"}},
		{"no host known", "", "", fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
			[]string{"the Kubernetes API server did not answer in time"}},
		{"other", "h:1", "", errors.New("boom"), []string{"querying the Kubernetes API server at h:1: boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Unreachable(tc.host, tc.context, tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("%v does not wrap %v", got, tc.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
		})
	}
}
