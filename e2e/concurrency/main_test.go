//go:build e2e

// Package concurrency tests meshmon next to other writers of the same objects, and that
// the data volume is deleted only when someone confirmed it, against the real control plane.
package concurrency

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
