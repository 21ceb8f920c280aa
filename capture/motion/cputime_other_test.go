//go:build !linux

package motion

// threadCPU is not available here; benchmarks then report no CPU time.
func threadCPU() int64 { return 0 }
