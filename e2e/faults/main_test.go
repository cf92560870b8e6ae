//go:build e2e

package faults

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
