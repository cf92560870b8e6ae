//go:build e2e

// Package remotewrite proves remote write end to end: the real Prometheus
// runs the release's rendered remote_write configuration, with the bearer
// token from a mounted Secret, and writes to a real single-node
// VictoriaMetrics (behind a bearer-token proxy) and to a real Thanos (two
// receivers in a hashring with replication factor 2, and Thanos Query);
// `check` judges the queues and reads the samples back, through the faults
// a receiver has.
package remotewrite

import (
	"os"
	"testing"

	"github.com/meshmon/meshmon/e2e/framework"
)

func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
