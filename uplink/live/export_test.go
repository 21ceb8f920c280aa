package live

// ProcessCPU is processCPU for the external (live_test) benchmarks.
var ProcessCPU = processCPU
