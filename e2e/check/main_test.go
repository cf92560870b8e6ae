//go:build e2e

// Package check runs `meshmon check` against the real control plane and a
// real Prometheus that discovers and scrapes the cluster's (fake) pods.
package check

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
