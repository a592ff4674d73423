package team

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Applier stores batches; usage.Store implements it.
type Applier interface {
	// Apply stores a batch in one transaction.
	Apply(ctx context.Context, b usage.Batch) error
}

// MaxBodyBytes bounds a request body, after gzip decompression too: a
// batch of DefaultBatchSize records is well under 1 MiB of JSON.
const MaxBodyBytes = 32 << 20

// writeJSON writes a success envelope around data.
func writeJSON(w http.ResponseWriter, r *http.Request, logger *slog.Logger, data any) {
	httpapi.WriteJSON(w, r, logger, data)
}

// writeError writes an error envelope (see httpapi.WriteError); a body
// over the limit is answered with 413.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if tl := (*errTooLarge)(nil); errors.As(err, &tl) {
		httpapi.WriteErrorStatus(w, r, logger, http.StatusRequestEntityTooLarge, httpapi.CodePayloadTooLarge, tl.Error())
		return
	}
	httpapi.WriteError(w, r, logger, err)
}

// readBody returns the request body, gunzipped when Content-Encoding says
// gzip, and at most MaxBodyBytes of it (an errTooLarge beyond, or beyond
// the limit of a MaxBytesReader in front).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	var src io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, usage.Errorf(usage.EINVALID, "body: not valid gzip")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, usage.Errorf(usage.EINVALID, "Content-Encoding %q is not supported (use gzip or none)", enc)
	}
	// One byte more than the limit tells a body at the limit from one
	// over it, also for a small gzip body that inflates without bound.
	data, err := io.ReadAll(io.LimitReader(src, MaxBodyBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		// The limit that was hit: the server in front may enforce a
		// smaller one than MaxBodyBytes.
		return nil, bodyTooLarge(tooBig.Limit)
	case len(data) > MaxBodyBytes:
		return nil, bodyTooLarge(MaxBodyBytes)
	case err != nil:
		return nil, usage.Errorf(usage.EINVALID, "body: %s", readError(err))
	}
	return data, nil
}

// errTooLarge marks a request body over the limit, answered with 413.
type errTooLarge struct{ limit int64 }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("body: larger than %d bytes (%s)", e.limit, sizeText(e.limit))
}

func bodyTooLarge(limit int64) error { return &errTooLarge{limit} }

// sizeText writes n bytes in MiB or KiB when it is a whole number of them.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readError describes a body read failure without internals.
func readError(err error) string {
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated or corrupt"
	}
	return fmt.Sprintf("cannot be read (%v)", err)
}
