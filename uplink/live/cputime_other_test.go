//go:build !unix

package live

// processCPU is not measured on this OS.
func processCPU() int64 { return 0 }
