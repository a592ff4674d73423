package server

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// processOS reads the process figures of Prometheus' process collector
// from the kernel: CPU time, memory (from /proc/self/statm) and file
// descriptors. A figure that cannot be read is left out.
func processOS() []processFigure {
	var out []processFigure
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
		out = append(out, processFigure{"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu})
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		out = append(out, processFigure{"process_max_fds", "gauge", "Maximum number of open file descriptors.", float64(lim.Cur)})
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		// ReadDir's own descriptor is closed again, but listed.
		out = append(out, processFigure{"process_open_fds", "gauge", "Number of open file descriptors.", float64(len(fds) - 1)})
	}
	// statm: size and resident, in pages.
	if data, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := bytes.Fields(data); len(f) >= 2 {
			page := float64(os.Getpagesize())
			size, err1 := strconv.ParseUint(string(f[0]), 10, 64)
			rss, err2 := strconv.ParseUint(string(f[1]), 10, 64)
			if err1 == nil && err2 == nil {
				out = append(out,
					processFigure{"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", float64(rss) * page},
					processFigure{"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", float64(size) * page})
			}
		}
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		out = append(out, processFigure{"process_virtual_memory_max_bytes", "gauge", "Maximum amount of virtual memory available in bytes.", float64(lim.Cur)})
	}
	return out
}
