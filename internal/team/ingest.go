package team

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// IngestPath is the ingest route under the API prefix.
const IngestPath = "/ingest"

// IngestRequest is the body of POST <prefix>/ingest: records pushed by
// one machine.
type IngestRequest struct {
	// Machine names the sending machine; it fills records whose machine
	// is empty.
	Machine string `json:"machine"`
	// User is whom the records belong to. Only the admin token may set
	// it; a user token pushes as its own user.
	User    string         `json:"user,omitempty"`
	Records []usage.Record `json:"records"`
	// Prompts are the prompts typed on the machine (see usage.Prompt),
	// stored under the same user and machine as the records.
	Prompts []usage.Prompt `json:"prompts,omitempty"`
}

// IngestResponse is the data of a successful ingest.
type IngestResponse struct {
	// Accepted is how many records the batch held; all were stored (or
	// were already stored as a preferred copy).
	Accepted int `json:"accepted"`
	// User is the user the records were stored under.
	User string `json:"user"`
	// Prompts is how many prompts the batch held.
	Prompts int `json:"prompts,omitempty"`
}

// IngestHandler serves POST <prefix>/ingest. Every field of every record
// is validated first; one bad record rejects the whole batch with 400 and
// nothing is stored. Storing is an upsert by record key, so a batch sent
// twice (a push retried after a lost response) changes nothing.
type IngestHandler struct {
	store  Applier
	logger *slog.Logger
	auth   Authenticator
	// Now returns the current time, for the future-timestamp check.
	Now func() time.Time
}

// NewIngestHandler returns the ingest handler. auth decides who may push
// (see TokenAuth).
func NewIngestHandler(store Applier, logger *slog.Logger, auth Authenticator) *IngestHandler {
	return &IngestHandler{store: store, logger: logger, auth: auth, Now: time.Now}
}

// ServeHTTP implements http.Handler.
func (h *IngestHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, r, h.logger, usage.Errorf(usage.EINVALID, "method %s not allowed; use POST", r.Method))
		return
	}
	p, err := h.auth(r)
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	batch, user, err := h.decode(body, p)
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	if err := h.store.Apply(r.Context(), batch); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	h.logger.DebugContext(r.Context(), "ingested", slog.String("user", user), slog.Int("records", len(batch.Records)))
	writeJSON(w, r, h.logger, IngestResponse{Accepted: len(batch.Records), User: user, Prompts: len(batch.Prompts)})
}

// decode parses and validates an ingest body and returns the batch to
// store and the user it is stored under.
func (h *IngestHandler) decode(body []byte, p Principal) (usage.Batch, string, error) {
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		return usage.Batch{}, "", usage.Errorf(usage.EINVALID, "body: not valid UTF-8")
	}
	var req IngestRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	// Unknown fields are refused: a misspelt field would otherwise be
	// silently stored as zero.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return usage.Batch{}, "", usage.Errorf(usage.EINVALID, "body: %s", jsonError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return usage.Batch{}, "", usage.Errorf(usage.EINVALID, "body: unexpected data after the JSON object")
	}
	if len(req.Records) > MaxBatchRecords {
		return usage.Batch{}, "", usage.Errorf(usage.EINVALID, "records: %d records in one batch, at most %d", len(req.Records), MaxBatchRecords)
	}
	user := p.User
	switch {
	case p.Admin && req.User == "":
		return usage.Batch{}, "", usage.Errorf(usage.EINVALID, "user: the admin token must name the user the records belong to")
	case p.Admin:
		user = req.User
	case req.User != "" && req.User != p.User:
		return usage.Batch{}, "", usage.Errorf(usage.EFORBIDDEN, "user: this token pushes as %q, not %q", p.User, req.User)
	}
	if err := usage.ValidName("user", user); err != nil {
		return usage.Batch{}, "", err
	}
	if req.Machine != "" {
		if err := usage.ValidName("machine", req.Machine); err != nil {
			return usage.Batch{}, "", err
		}
	}
	now := h.Now()
	for i := range req.Records {
		r := &req.Records[i]
		if err := h.fill(r, user, req.Machine, now); err != nil {
			return usage.Batch{}, "", usage.Errorf(usage.EINVALID, "records[%d]: %s", i, usage.ErrorMessage(err))
		}
	}
	if err := h.fillPrompts(req.Prompts, user, req.Machine, now); err != nil {
		return usage.Batch{}, "", err
	}
	return usage.Batch{Records: req.Records, Prompts: req.Prompts}, user, nil
}

// fill validates one record and sets its user and machine.
func (h *IngestHandler) fill(r *usage.Record, user, machine string, now time.Time) error {
	if err := ValidateRecord(r, now); err != nil {
		return err
	}
	if r.User != "" && r.User != user {
		return usage.Errorf(usage.EINVALID, "user %q differs from the batch's user %q", r.User, user)
	}
	r.User = user
	if r.Machine == "" {
		r.Machine = machine
	}
	return usage.ValidName("machine", r.Machine)
}

// jsonError describes a JSON decoding error for the client.
func jsonError(err error) string {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %s: expected %s, got JSON %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated JSON"
	}
	return err.Error()
}
