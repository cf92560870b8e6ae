// Command krew-manifest renders krew/meshmon.yaml for a release from the
// archives in a directory and validates the result.
// usage: go run ./hack/tools/krew-manifest VERSION DIST_DIR > meshmon.yaml
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/meshmon/meshmon/krew"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "krew-manifest:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return errors.New("usage: krew-manifest VERSION DIST_DIR")
	}
	version, dist := os.Args[1], os.Args[2]
	partial := os.Getenv("MESHMON_RELEASE_ALLOW_PARTIAL") == "1"
	var platforms []krew.Platform
	for _, p := range krew.Platforms {
		data, err := os.ReadFile(filepath.Join(dist, p.Archive(version)))
		if err != nil {
			if partial && os.IsNotExist(err) {
				// A partial (test) release: fill the checksum so the
				// manifest stays structurally complete.
				p.SHA256 = fmt.Sprintf("%064x", 0)
				platforms = append(platforms, p)
				continue
			}
			return fmt.Errorf("reading archive: %w", err)
		}
		sum := sha256.Sum256(data)
		p.SHA256 = hex.EncodeToString(sum[:])
		platforms = append(platforms, p)
	}
	out, err := krew.Render(version, platforms)
	if err != nil {
		return err
	}
	if err := krew.Validate(out); err != nil {
		return fmt.Errorf("rendered manifest fails krew's rules: %w", err)
	}
	_, err = os.Stdout.Write(out)
	return err
}
