package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestStartProfilesWritesBoth(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{CPUProfileEnv: filepath.Join(dir, "cpu"), HeapProfileEnv: filepath.Join(dir, "heap")}
	var errOut bytes.Buffer
	stop := startProfiles(func(k string) string { return env[k] }, &errOut)
	stop()
	for _, f := range env {
		st, err := os.Stat(f)
		if err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v (size %v)", f, err, st)
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("unexpected output: %s", errOut.String())
	}
}

func TestStartProfilesReportsUnwritable(t *testing.T) {
	var errOut bytes.Buffer
	bad := filepath.Join(t.TempDir(), "missing", "cpu")
	stop := startProfiles(func(k string) string {
		if k == CPUProfileEnv {
			return bad
		}
		return ""
	}, &errOut)
	stop()
	if !bytes.Contains(errOut.Bytes(), []byte(bad)) {
		t.Errorf("the unwritable profile is not named: %q", errOut.String())
	}
}
