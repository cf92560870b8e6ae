package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A port-forward is one request with two audit events (ResponseStarted, ResponseComplete);
// it counts once. Other user agents and the log before the offset do not count.
func TestCountAuditCountsARequestOnce(t *testing.T) {
	before := `{"auditID":"0","stage":"ResponseComplete","userAgent":"meshmon/dev","verb":"get","requestURI":"/version"}` + "\n"
	log := before +
		`{"auditID":"1","stage":"ResponseStarted","userAgent":"meshmon/dev (linux/amd64) kubectl","verb":"create","requestURI":"/api/v1/namespaces/linkerd-viz/pods/p/portforward","objectRef":{"resource":"pods","subresource":"portforward"}}` + "\n" +
		`{"auditID":"1","stage":"ResponseComplete","userAgent":"meshmon/dev (linux/amd64) kubectl","verb":"create","requestURI":"/api/v1/namespaces/linkerd-viz/pods/p/portforward","objectRef":{"resource":"pods","subresource":"portforward"}}` + "\n" +
		`{"auditID":"2","stage":"ResponseComplete","userAgent":"meshmon/dev (linux/amd64) kubectl","verb":"get","requestURI":"/version?timeout=32s"}` + "\n" +
		`{"auditID":"3","stage":"ResponseComplete","userAgent":"meshmon/dev (linux/amd64) kubectl","verb":"list","requestURI":"/api/v1/pods?limit=500","objectRef":{"resource":"pods"}}` + "\n" +
		`{"auditID":"4","stage":"ResponseComplete","userAgent":"meshmon/dev (linux/amd64) kubectl","verb":"list","requestURI":"/api/v1/pods?limit=500&continue=x","objectRef":{"resource":"pods"}}` + "\n" +
		`{"auditID":"5","stage":"ResponseComplete","userAgent":"plainhelm/dev","verb":"list","requestURI":"/api/v1/secrets","objectRef":{"resource":"secrets"}}` + "\n"
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	n, by, err := countAudit(path, int64(len(before)), "meshmon/")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d requests, want 4 (%v)", n, by)
	}
	for what, want := range map[string]int{"create pods/portforward": 1, "get /version": 1, "list pods": 2} {
		if by[what] != want {
			t.Errorf("%s: %d, want %d (%v)", what, by[what], want, by)
		}
	}
}
