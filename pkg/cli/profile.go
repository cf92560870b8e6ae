package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// Environment variables that make one run write Go profiles, for measuring
// meshmon on a big cluster (make bench-scale, docs/performance.md); read
// them with `go tool pprof -top BINARY FILE`. Not flags: they are for
// whoever measures meshmon, not for its users.
const (
	CPUProfileEnv  = "MESHMON_CPUPROFILE"
	HeapProfileEnv = "MESHMON_MEMPROFILE"
)

// startProfiles starts the CPU profile named by MESHMON_CPUPROFILE; the
// function it returns stops it and writes the heap profile named by
// MESHMON_MEMPROFILE (allocations of the whole run). A profile that cannot
// be written is reported on errOut and does not change the exit code.
func startProfiles(getenv func(string) string, errOut io.Writer) func() {
	cpuPath, heapPath := getenv(CPUProfileEnv), getenv(HeapProfileEnv)
	if cpuPath == "" && heapPath == "" {
		return func() {}
	}
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(errOut, "meshmon: not writing the CPU profile %s (%s): %v\n", cpuPath, CPUProfileEnv, err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				fmt.Fprintf(errOut, "meshmon: writing the CPU profile %s: %v\n", cpuPath, err)
			}
		}
		if heapPath == "" {
			return
		}
		f, err := os.Create(heapPath)
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(errOut, "meshmon: writing the heap profile %s (%s): %v\n", heapPath, HeapProfileEnv, err)
		}
	}
}
