package server

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// API error codes, as httpapi defines them for every route.
const (
	codeForbidden        = httpapi.CodeForbidden
	codeUnauthorized     = httpapi.CodeUnauthorized
	codeFileNotFound     = httpapi.CodeFileNotFound
	codeParseError       = httpapi.CodeParseError
	codeExportFailed     = httpapi.CodeExportFailed
	codeInternalError    = httpapi.CodeInternalError
	codeMethodNotAllowed = httpapi.CodeMethodNotAllowed
)

// writeJSON writes data in a success envelope with status 200.
func writeJSON(w http.ResponseWriter, r *http.Request, data any) {
	httpapi.WriteJSON(w, r, loggerFrom(r.Context()), data)
}

// writeError writes err in an error envelope (see httpapi.WriteError).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, r, loggerFrom(r.Context()), err)
}

// writeErrorStatus writes an error envelope with an explicit status and API
// code, for errors that are not domain errors (auth, files, export).
func writeErrorStatus(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	httpapi.WriteErrorStatus(w, r, loggerFrom(r.Context()), status, code, message)
}

// writeEnvelope writes env with status.
func writeEnvelope(w http.ResponseWriter, r *http.Request, status int, env httpapi.Envelope) {
	httpapi.Write(w, r, loggerFrom(r.Context()), status, env)
}

// invalid returns an EINVALID error; messages must name the parameter.
func invalid(format string, args ...any) error {
	return usage.Errorf(usage.EINVALID, format, args...)
}

// isNotExist reports whether err means a file is absent.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || usage.ErrorCode(err) == usage.ENOTFOUND
}
