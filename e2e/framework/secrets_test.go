//go:build e2e

package framework

import (
	"strings"
	"testing"
)

// catchTB is a testing.TB whose Errorf and Cleanup are recorded, to see RegisterSecret fail.
type catchTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (c *catchTB) Errorf(format string, _ ...any) { c.errs = append(c.errs, format) }
func (c *catchTB) Cleanup(f func())               { c.cleanups = append(c.cleanups, f) }

func TestRegisterSecretCatchesAPrintedSecret(t *testing.T) {
	const secret = "s3cr3t-token-for-the-scan-test"
	record("kubectl-meshmon check --verbose", Result{Stdout: "ok\n", Stderr: "I1202 round_trippers.go: Authorization: Bearer " + secret + "\n"})
	c := &catchTB{TB: t}
	RegisterSecret(c, secret)
	for _, f := range c.cleanups {
		f()
	}
	if len(c.errs) != 1 {
		t.Fatalf("a printed secret was not reported: %v", c.errs)
	}
	if where := ScanSecret(secret); !strings.Contains(where, "stderr of `kubectl-meshmon check --verbose`") {
		t.Errorf("ScanSecret = %q, want the command and stream", where)
	}
	c = &catchTB{TB: t}
	RegisterSecret(c, "never-printed-anywhere-0123")
	for _, f := range c.cleanups {
		f()
	}
	if len(c.errs) != 0 {
		t.Errorf("a secret that was never printed was reported: %v", c.errs)
	}
}
