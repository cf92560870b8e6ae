//go:build e2e

// Package policy checks the policy commands against the real control plane, whose Linkerd CRDs
// validate every object meshmon writes.
package policy

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
