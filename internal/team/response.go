package team

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

// envelope is the API's response shape (DESIGN §4).
type envelope struct {
	Success   bool       `json:"success"`
	Data      any        `json:"data,omitempty"`
	Error     *errorBody `json:"error,omitempty"`
	Timestamp time.Time  `json:"timestamp"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// httpCodes maps usage error codes to the API's codes and statuses.
var httpCodes = map[string]struct {
	code   string
	status int
}{
	usage.EINVALID:      {"INVALID_PARAMS", http.StatusBadRequest},
	usage.ECONFLICT:     {"INVALID_PARAMS", http.StatusBadRequest},
	usage.EUNAUTHORIZED: {"UNAUTHORIZED", http.StatusUnauthorized},
	usage.EFORBIDDEN:    {"FORBIDDEN", http.StatusForbidden},
	usage.ENOTFOUND:     {"NOT_FOUND", http.StatusNotFound},
	usage.EINTERNAL:     {"INTERNAL_ERROR", http.StatusInternalServerError},
}

// statusOf returns the API code and HTTP status of err.
func statusOf(err error) (string, int) {
	c, ok := httpCodes[usage.ErrorCode(err)]
	if !ok {
		c = httpCodes[usage.EINTERNAL]
	}
	return c.code, c.status
}

// writeJSON writes a success envelope around data.
func writeJSON(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(envelope{Success: true, Data: data, Timestamp: time.Now().UTC()})
}

// writeError writes an error envelope. Internal errors are logged here,
// once, and reach the client only as a generic message.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code, status := statusOf(err)
	msg := usage.ErrorMessage(err)
	if tl := (*errTooLarge)(nil); errors.As(err, &tl) {
		code, status, msg = "PAYLOAD_TOO_LARGE", http.StatusRequestEntityTooLarge, tl.Error()
	}
	if status >= 500 {
		logger.ErrorContext(r.Context(), "request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctm"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(envelope{
		Error:     &errorBody{Code: code, Message: msg},
		Timestamp: time.Now().UTC(),
	})
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
