//go:build !unix

package main

import "os"

// maxRSS is not available without Unix rusage; memory columns read 0.
func maxRSS(*os.ProcessState) int64 { return 0 }
