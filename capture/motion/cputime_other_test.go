//go:build !linux

package motion

// threadCPU is not available here; benchmarks then report no CPU time.
func threadCPU() int64 { return 0 }

// processCPU is not available here either.
func processCPU() int64 { return 0 }
