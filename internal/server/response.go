package server

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// API error codes of the response envelope (DESIGN §4).
const (
	codeInvalidParams    = "INVALID_PARAMS"
	codeUnauthorized     = "UNAUTHORIZED"
	codeForbidden        = "FORBIDDEN"
	codeNotFound         = "NOT_FOUND"
	codeFileNotFound     = "FILE_NOT_FOUND"
	codeParseError       = "PARSE_ERROR"
	codeExportFailed     = "EXPORT_FAILED"
	codeInternalError    = "INTERNAL_ERROR"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// errorCodes maps domain error codes to API codes and HTTP statuses. It is
// the one place where usage errors become HTTP errors.
var errorCodes = map[string]struct {
	code   string
	status int
}{
	usage.EINVALID:      {codeInvalidParams, http.StatusBadRequest},
	usage.EUNAUTHORIZED: {codeUnauthorized, http.StatusUnauthorized},
	usage.EFORBIDDEN:    {codeForbidden, http.StatusForbidden},
	usage.ENOTFOUND:     {codeNotFound, http.StatusNotFound},
	usage.ECONFLICT:     {codeInvalidParams, http.StatusBadRequest},
	usage.EINTERNAL:     {codeInternalError, http.StatusInternalServerError},
}

// envelope is the shape of every JSON response. Timestamp is when the
// response was sent. A response served from the cache also has computed_at,
// when its data was computed (see restamp), so that a client can tell how
// old the figures are without mistaking the send time for it.
type envelope struct {
	Success   bool       `json:"success"`
	Data      any        `json:"data,omitempty"`
	Error     *errorBody `json:"error,omitempty"`
	Timestamp string     `json:"timestamp"`
}

// errorBody is the error part of a failed response.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeJSON writes data in a success envelope with status 200.
func writeJSON(w http.ResponseWriter, r *http.Request, data any) {
	writeEnvelope(w, r, http.StatusOK, envelope{Success: true, Data: data})
}

// writeError writes err in an error envelope. Domain errors keep their
// message; any other error is logged and answered with a generic 500 that
// reveals nothing internal.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := usage.ErrorCode(err)
	m, ok := errorCodes[code]
	if !ok {
		m = errorCodes[usage.EINTERNAL]
	}
	if m.status >= http.StatusInternalServerError {
		loggerFrom(r.Context()).Error("request failed", slog.Any("error", err))
	}
	writeErrorStatus(w, r, m.status, m.code, usage.ErrorMessage(err))
}

// writeErrorStatus writes an error envelope with an explicit status and API
// code, for errors that are not domain errors (auth, files, export).
func writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeEnvelope(w, r, status, envelope{Error: &errorBody{Code: code, Message: message}})
}

func writeEnvelope(w http.ResponseWriter, r *http.Request, status int, env envelope) {
	env.Timestamp = time.Now().UTC().Format(time.RFC3339)
	body, err := json.Marshal(env)
	if err != nil {
		// Only a programming error (an unencodable type) gets here.
		loggerFrom(r.Context()).Error("encode response", slog.Any("error", err))
		status = http.StatusInternalServerError
		body, _ = json.Marshal(envelope{
			Error:     &errorBody{Code: codeInternalError, Message: "internal error"},
			Timestamp: env.Timestamp,
		})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
}

// invalid returns an EINVALID error; messages must name the parameter.
func invalid(format string, args ...any) error {
	return usage.Errorf(usage.EINVALID, format, args...)
}

// isNotExist reports whether err means a file is absent.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || usage.ErrorCode(err) == usage.ENOTFOUND
}
