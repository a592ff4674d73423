package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar draws indexing progress on a terminal. It stays silent for
// small catch-ups (below minBytes) so that everyday reports print nothing
// extra. A nil *progressBar is valid and draws nothing.
type progressBar struct {
	w        io.Writer
	minBytes int64
	start    time.Time

	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer, minBytes int64) *progressBar {
	return &progressBar{w: w, minBytes: minBytes, start: time.Now()}
}

// update is the ingest progress callback; it redraws at most 10 times a
// second because terminals are slow.
func (p *progressBar) update(done, total int64) {
	if p == nil || total < p.minBytes {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = now
	p.drawn = true
	const width = 30
	frac := float64(done) / float64(total)
	frac = min(max(frac, 0), 1)
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\rindexing [%s%s] %3.0f%%  %s / %s  %s ",
		strings.Repeat("█", filled), strings.Repeat("░", width-filled), frac*100,
		formatBytes(done), formatBytes(total), now.Sub(p.start).Round(100*time.Millisecond))
}

// finish clears the bar's line.
func (p *progressBar) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
