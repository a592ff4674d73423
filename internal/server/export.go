package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// exportRequest is the body of POST /export; GET /export takes the same
// names as query parameters, with fields as a comma list.
type exportRequest struct {
	Format      string   `json:"format,omitempty" enum:"csv,json"`
	StartDate   string   `json:"start_date,omitempty"`
	EndDate     string   `json:"end_date,omitempty"`
	Granularity string   `json:"granularity,omitempty" enum:"day,hour"`
	Fields      []string `json:"fields,omitempty"`
	Breakdown   string   `json:"breakdown,omitempty" enum:"none,model"`
}

// exportResponse is the JSON export, in the usual envelope.
type exportResponse struct{ views.Export }

func (s *Server) handleExportGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := exportRequest{
		Format:      q.Get("format"),
		StartDate:   q.Get("start_date"),
		EndDate:     q.Get("end_date"),
		Granularity: q.Get("granularity"),
		Breakdown:   q.Get("breakdown"),
	}
	if v := q.Get("fields"); v != "" {
		for f := range strings.SplitSeq(v, ",") {
			req.Fields = append(req.Fields, strings.TrimSpace(f))
		}
	}
	s.export(w, r, req)
}

func (s *Server) handleExportPost(w http.ResponseWriter, r *http.Request) {
	var req exportRequest
	if err := decodeJSONBody(r.Body, &req); err != nil {
		writeError(w, r, err)
		return
	}
	s.export(w, r, req)
}

// decodeJSONBody decodes exactly one JSON object with no unknown fields.
func decodeJSONBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return invalid("body: request body exceeds %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return invalid("body: a JSON object is required")
	case err != nil:
		return invalid("body: malformed JSON: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, &tooBig) {
			return invalid("body: request body exceeds %d bytes", tooBig.Limit)
		}
		return invalid("body: unexpected data after the JSON object")
	}
	return nil
}

// jsonErrorText describes a decode error without echoing the body.
func jsonErrorText(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// Describe the expected JSON kind; the Go type is an internal name.
		if typeErr.Field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", typeErr.Value)
		}
		return fmt.Sprintf("field %s must be %s", typeErr.Field, jsonKind(typeErr.Type))
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return strings.TrimPrefix(msg, "json: ")
}

// jsonKind names the JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	default:
		return "an object"
	}
}

// export writes the CSV download or the JSON document req selects.
func (s *Server) export(w http.ResponseWriter, r *http.Request, req exportRequest) {
	e, err := s.views(r.Context()).Export(r.Context(), views.ExportQuery{
		Format: req.Format, StartDate: req.StartDate, EndDate: req.EndDate,
		Granularity: req.Granularity, Fields: req.Fields, Breakdown: req.Breakdown,
	})
	if err != nil {
		s.exportFailed(w, r, err)
		return
	}
	if e.Format == "json" {
		w.Header().Set("Content-Disposition", contentDisposition(e.FileName()))
		writeJSON(w, r, exportResponse{*e})
		return
	}
	body, err := e.CSV()
	if err != nil {
		s.exportFailed(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", contentDisposition(e.FileName()))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	if len(e.Summary.UnpricedModels) > 0 {
		// CSV has no room for notes; say which models were priced at 0.
		h.Set("X-Unpriced-Models", strings.Join(e.Summary.UnpricedModels, ","))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func contentDisposition(name string) string {
	return fmt.Sprintf("attachment; filename=%q", name)
}

func (s *Server) exportFailed(w http.ResponseWriter, r *http.Request, err error) {
	if usage.ErrorCode(err) != usage.EINTERNAL {
		writeError(w, r, err)
		return
	}
	loggerFrom(r.Context()).Error("export failed", slog.Any("error", err))
	writeErrorStatus(w, r, http.StatusInternalServerError, codeExportFailed, "export failed")
}
