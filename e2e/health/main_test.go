//go:build e2e

// Package health provokes, for real, the conditions the
// meshmon-prometheus-health checks look for: a rule that fails, a rejected
// configuration, a proxy whose timestamps go backwards and a retention that
// does not fit, against the real Prometheus running the release's
// configuration.
package health

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
