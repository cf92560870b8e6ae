//go:build e2e

// Package viz checks `viz configure` and `viz restore` against the real control plane, on the
// CLI-installed viz of the fixtures and on a Helm-installed one.
package viz

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
