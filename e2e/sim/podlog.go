package sim

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// PreviousPodLog is where the log of a pod log file's previous container
// goes when the container restarts: x.log -> x.previous.log (what
// hack/cluster-up.sh tells kwok to serve for `logs --previous`).
func PreviousPodLog(path string) string {
	return strings.TrimSuffix(path, ".log") + ".previous.log"
}

// podLog writes a process' output as a container log in the CRI format
// (`<RFC3339Nano time> <stream> F <line>`), which kwok serves for pods/log,
// as the kubelet serves what the container runtime wrote.
type podLog struct {
	mu      sync.Mutex
	f       *os.File
	partial []byte
}

// openPodLog starts a new container log at path; an existing one becomes
// the previous container's log.
func openPodLog(path string) (*podLog, error) {
	if _, err := os.Stat(path); err == nil {
		if err := os.Rename(path, PreviousPodLog(path)); err != nil {
			return nil, fmt.Errorf("keeping the previous container log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the container log: %w", err)
	}
	return &podLog{f: f}, nil
}

func (l *podLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		// Prometheus logs to stderr.
		fmt.Fprintf(&out, "%s stderr F %s\n", time.Now().UTC().Format(time.RFC3339Nano), l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	if out.Len() > 0 {
		if _, err := l.f.Write(out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// Close writes an unfinished last line and closes the file.
func (l *podLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		fmt.Fprintf(l.f, "%s stderr F %s\n", time.Now().UTC().Format(time.RFC3339Nano), l.partial)
		l.partial = nil
	}
	return l.f.Close()
}
