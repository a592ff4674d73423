//go:build !unix

package ingest

import "time"

// cpuTime is unknown here: benchmarks report no CPU throughput.
func cpuTime() time.Duration { return 0 }
