// Package httpapi is the JSON API's response shape, shared by the REST
// server and the team routes so that every route answers alike: the
// envelope, the API error codes and the one table that turns a usage
// error into a code and an HTTP status (DESIGN §4).
package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// API error codes of the envelope.
const (
	CodeInvalidParams    = "INVALID_PARAMS"
	CodeUnauthorized     = "UNAUTHORIZED"
	CodeForbidden        = "FORBIDDEN"
	CodeNotFound         = "NOT_FOUND"
	CodeFileNotFound     = "FILE_NOT_FOUND"
	CodeParseError       = "PARSE_ERROR"
	CodeExportFailed     = "EXPORT_FAILED"
	CodeInternalError    = "INTERNAL_ERROR"
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	CodePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
)

// Codes lists every API error code, for documents such as OpenAPI.
var Codes = []string{
	CodeInvalidParams, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeFileNotFound,
	CodeParseError, CodeExportFailed, CodeInternalError, CodeMethodNotAllowed, CodePayloadTooLarge,
}

// errorCodes maps usage error codes to API codes and HTTP statuses. It is
// the one place where usage errors become HTTP errors.
var errorCodes = map[string]struct {
	code   string
	status int
}{
	usage.EINVALID:      {CodeInvalidParams, http.StatusBadRequest},
	usage.EUNAUTHORIZED: {CodeUnauthorized, http.StatusUnauthorized},
	usage.EFORBIDDEN:    {CodeForbidden, http.StatusForbidden},
	usage.ENOTFOUND:     {CodeNotFound, http.StatusNotFound},
	usage.ECONFLICT:     {CodeInvalidParams, http.StatusBadRequest},
	usage.EINTERNAL:     {CodeInternalError, http.StatusInternalServerError},
}

// Status returns the API code and HTTP status of err; an error that is not
// a usage error is internal.
func Status(err error) (code string, status int) {
	m, ok := errorCodes[usage.ErrorCode(err)]
	if !ok {
		m = errorCodes[usage.EINTERNAL]
	}
	return m.code, m.status
}

// Envelope is the shape of every JSON response. Timestamp is when the
// response was sent; Write sets it. It is the last field because the
// server's response cache rewrites it in encoded bodies.
type Envelope struct {
	Success   bool       `json:"success"`
	Data      any        `json:"data,omitempty"`
	Error     *ErrorBody `json:"error,omitempty"`
	Timestamp string     `json:"timestamp"`
}

// ErrorBody is the error part of a failed response.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteJSON writes data in a success envelope with status 200.
func WriteJSON(w http.ResponseWriter, r *http.Request, logger *slog.Logger, data any) {
	Write(w, r, logger, http.StatusOK, Envelope{Success: true, Data: data})
}

// WriteError writes err in an error envelope with the code and status of
// Status. A usage error keeps its message; an internal error is logged
// here, once, and answered with a message that reveals nothing internal.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code, status := Status(err)
	if status >= http.StatusInternalServerError {
		logger.ErrorContext(r.Context(), "request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	WriteErrorStatus(w, r, logger, status, code, usage.ErrorMessage(err))
}

// WriteErrorStatus writes an error envelope with an explicit status and API
// code, for errors that are not usage errors (files, export, body size).
// A 401 names the Bearer scheme, as RFC 9110 asks.
func WriteErrorStatus(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, code, message string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctm"`)
	}
	Write(w, r, logger, status, Envelope{Error: &ErrorBody{Code: code, Message: message}})
}

// Write stamps env and writes it with status. A HEAD request gets the
// headers only.
func Write(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, env Envelope) {
	env.Timestamp = time.Now().UTC().Format(time.RFC3339)
	body, err := json.Marshal(env)
	if err != nil {
		// Only a programming error (an unencodable type) gets here.
		logger.ErrorContext(r.Context(), "encode response", slog.Any("error", err))
		status = http.StatusInternalServerError
		body, _ = json.Marshal(Envelope{
			Error:     &ErrorBody{Code: CodeInternalError, Message: "internal error"},
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
