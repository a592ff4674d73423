//go:build !linux

package server

// processOS has no figures where there is no /proc: /metrics then holds
// the process start time besides the Go runtime's figures.
func processOS() []processFigure { return nil }
