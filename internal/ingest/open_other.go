//go:build !unix

package ingest

// openNonblock is 0 where O_NONBLOCK does not exist; the stat before the
// open still keeps FIFOs and devices out.
const openNonblock = 0
