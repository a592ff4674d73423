package team

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// OTLPLogsPath is where OTLP/HTTP exporters send logs by default
// (OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/logs").
const OTLPLogsPath = "/v1/logs"

// apiRequestEvent is the Claude Code event that reports one API response.
const apiRequestEvent = "claude_code.api_request"

// OTLPHandler serves POST /v1/logs (OTLP/HTTP, binary protobuf or JSON,
// optionally gzipped). It maps every claude_code.api_request event to a
// record and stores all of a request's records in one batch; other events
// are ignored. A malformed request, or a malformed api_request event, is
// refused whole with 400 and nothing is stored.
//
// Records are keyed usage.TelemetryKeyPrefix + request_id, and carry the
// request id, so a store that applies usage.Record.Supersedes (the
// PostgreSQL store) counts a response once when a machine also pushes its
// transcript.
type OTLPHandler struct {
	store  Applier
	logger *slog.Logger
	auth   Authenticator
	// Now returns the current time, for the future-timestamp check.
	Now func() time.Time
}

// NewOTLPHandler returns the OTLP logs receiver. auth decides who may
// send (see TokenAuth); Claude Code sends the token it is configured with
// in OTEL_EXPORTER_OTLP_HEADERS.
func NewOTLPHandler(store Applier, logger *slog.Logger, auth Authenticator) *OTLPHandler {
	return &OTLPHandler{store: store, logger: logger, auth: auth, Now: time.Now}
}

// ServeHTTP implements http.Handler.
func (h *OTLPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := mt == "application/json"
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, isJSON, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if !isJSON && mt != "application/x-protobuf" {
		h.fail(w, r, isJSON, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q is not supported; use application/x-protobuf or application/json", mt))
		return
	}
	p, err := h.auth(r)
	if err != nil {
		_, status := httpapi.Status(err)
		h.fail(w, r, isJSON, status, usage.ErrorMessage(err))
		return
	}
	body, err := readBody(w, r)
	if tl := (*errTooLarge)(nil); errors.As(err, &tl) {
		h.fail(w, r, isJSON, http.StatusRequestEntityTooLarge, tl.Error())
		return
	}
	if err != nil {
		h.fail(w, r, isJSON, http.StatusBadRequest, usage.ErrorMessage(err))
		return
	}
	var data *otlpLogs
	if isJSON {
		data, err = decodeOTLPJSON(body)
	} else {
		data, err = decodeOTLPProto(body)
	}
	if err != nil {
		h.fail(w, r, isJSON, http.StatusBadRequest, "body is not a valid OTLP logs request")
		return
	}
	records, err := otlpRecords(data, p, h.Now())
	if err != nil {
		h.fail(w, r, isJSON, http.StatusBadRequest, usage.ErrorMessage(err))
		return
	}
	if len(records) > 0 {
		if err := h.store.Apply(r.Context(), usage.Batch{Records: records}); err != nil {
			_, status := httpapi.Status(err)
			if status >= 500 {
				h.logger.ErrorContext(r.Context(), "otlp ingest failed", slog.Any("error", err))
			}
			h.fail(w, r, isJSON, status, usage.ErrorMessage(err))
			return
		}
	}
	// An empty ExportLogsServiceResponse: full success.
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// fail writes an OTLP error: a google.rpc.Status in the request's
// encoding, as the OTLP/HTTP spec asks.
func (h *OTLPHandler) fail(w http.ResponseWriter, r *http.Request, isJSON bool, status int, msg string) {
	// gRPC status codes: INVALID_ARGUMENT, UNAUTHENTICATED, INTERNAL.
	code := 3
	switch {
	case status == http.StatusUnauthorized:
		code = 16
		w.Header().Set("WWW-Authenticate", `Bearer realm="ctm"`)
	case status >= 500:
		code = 13
	}
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}{code, msg})
		return
	}
	// Field 1 (varint): the code; field 2 (bytes): the message.
	b := binary.AppendUvarint([]byte{1<<3 | wireVarint}, uint64(code))
	b = binary.AppendUvarint(append(b, 2<<3|wireBytes), uint64(len(msg)))
	b = append(b, msg...)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	w.Write(b)
}

// otlpRecords maps the claude_code.api_request events of an OTLP logs
// request to records, for principal p at time now. Other events are
// skipped. It returns EINVALID naming the first malformed event.
//
// A user token's user owns the records; with the admin token the event's
// user.email, else user.account_uuid, does. Cache writes are counted as
// 5-minute writes: telemetry does not split them (DESIGN §2.4).
func otlpRecords(data *otlpLogs, p Principal, now time.Time) ([]usage.Record, error) {
	var out []usage.Record
	for i := range data.resourceLogs {
		rl := &data.resourceLogs[i]
		resource := attrMap(rl.resource)
		for j := range rl.scopeLogs {
			for k := range rl.scopeLogs[j].logRecords {
				lr := &rl.scopeLogs[j].logRecords[k]
				attrs := attrMap(lr.attributes)
				if !isAPIRequest(lr, attrs) {
					continue
				}
				rec, err := mapEvent(lr, attrs, resource, p, now)
				if err != nil {
					return nil, usage.Errorf(usage.EINVALID, "resourceLogs[%d].scopeLogs[%d].logRecords[%d]: %s", i, j, k, usage.ErrorMessage(err))
				}
				out = append(out, rec)
			}
		}
	}
	return out, nil
}

// attrMap indexes attributes by key; a later duplicate wins.
func attrMap(kvs []otlpKeyValue) map[string]*otlpValue {
	m := make(map[string]*otlpValue, len(kvs))
	for _, kv := range kvs {
		m[kv.key] = kv.value
	}
	return m
}

// isAPIRequest reports whether a log record is the api_request event:
// Claude Code names it in the body; newer SDKs also set event_name or an
// event.name attribute.
func isAPIRequest(lr *otlpLogRecord, attrs map[string]*otlpValue) bool {
	if lr.eventName == apiRequestEvent || lr.body.stringValue() == apiRequestEvent {
		return true
	}
	name := attrs["event.name"].stringValue()
	return name == apiRequestEvent || name == "api_request"
}

// mapEvent turns one api_request event into a record.
func mapEvent(lr *otlpLogRecord, attrs, resource map[string]*otlpValue, p Principal, now time.Time) (usage.Record, error) {
	str := func(name string) (string, error) {
		v, ok := attrs[name]
		if !ok {
			v, ok = resource[name]
		}
		if !ok {
			return "", nil
		}
		switch {
		case v == nil:
		case v.kind == otlpString:
			return v.str, nil
		case v.kind == otlpInt:
			return strconv.FormatInt(v.num, 10), nil
		}
		return "", usage.Errorf(usage.EINVALID, "attribute %s: expected a string", name)
	}
	var (
		r   usage.Record
		err error
	)
	get := func(dst *string, name string) {
		if err == nil {
			*dst, err = str(name)
		}
	}
	var userEmail, userUUID, seq, ts, appVersion, serviceVersion string
	get(&r.Model, "model")
	get(&r.RequestID, "request_id")
	get(&r.SessionID, "session.id")
	get(&userEmail, "user.email")
	get(&userUUID, "user.account_uuid")
	get(&seq, "event.sequence")
	get(&ts, "event.timestamp")
	get(&appVersion, "app.version")
	get(&serviceVersion, "service.version")
	get(&r.Machine, "host.name")
	if err != nil {
		return r, err
	}
	tokens := []struct {
		name string
		dst  *int64
	}{
		{"input_tokens", &r.Input}, {"output_tokens", &r.Output},
		{"cache_read_tokens", &r.CacheRead}, {"cache_creation_tokens", &r.CacheCreation5m},
	}
	for _, t := range tokens {
		if *t.dst, err = count(attrs[t.name], t.name); err != nil {
			return r, err
		}
	}
	if r.Model == "" {
		return r, usage.Errorf(usage.EINVALID, "attribute model is missing")
	}
	if r.Timestamp, err = eventTime(ts, lr); err != nil {
		return r, err
	}
	r.Version = appVersion
	if r.Version == "" {
		r.Version = serviceVersion
	}
	switch {
	case p.User != "":
		r.User = p.User
	case userEmail != "":
		r.User = userEmail
	default:
		r.User = userUUID
	}
	if r.User != "" {
		if err := usage.ValidName("user", r.User); err != nil {
			return r, err
		}
	}
	if r.Machine != "" {
		if err := usage.ValidName("host.name", r.Machine); err != nil {
			return r, err
		}
	}
	if r.RequestID != "" {
		r.Key = usage.TelemetryKeyPrefix + r.RequestID
	} else {
		// Without a request id the event cannot be matched with a
		// transcript; key it by what makes a re-export of the same
		// event the same record.
		r.Key = fmt.Sprintf("%s%s:%d:%s", usage.TelemetryKeyPrefix, r.SessionID, r.Timestamp.UnixNano(), seq)
	}
	if err := validText("key", r.Key, maxIDLength); err != nil {
		return r, err
	}
	return r, validFields(&r, now)
}

// count reads a token count attribute: an int, an integral double, or a
// decimal string (Claude Code sends attribute values as strings). Missing
// is 0.
func count(v *otlpValue, name string) (int64, error) {
	if v == nil {
		return 0, nil
	}
	var n int64
	switch v.kind {
	case otlpInt:
		n = v.num
	case otlpDouble:
		if v.dbl != math.Trunc(v.dbl) || math.Abs(v.dbl) > MaxTokens {
			return 0, usage.Errorf(usage.EINVALID, "attribute %s: %v is not a token count", name, v.dbl)
		}
		n = int64(v.dbl)
	case otlpString:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(v.str), 10, 64); err != nil {
			return 0, usage.Errorf(usage.EINVALID, "attribute %s: %q is not an integer", name, v.str)
		}
	default:
		return 0, usage.Errorf(usage.EINVALID, "attribute %s: expected an integer", name)
	}
	if n < 0 || n > MaxTokens {
		return 0, usage.Errorf(usage.EINVALID, "attribute %s: %d is outside 0..%d", name, n, MaxTokens)
	}
	return n, nil
}

// eventTime returns the event's time: the event.timestamp attribute (ISO
// 8601), else the log record's time, else its observed time.
func eventTime(attr string, lr *otlpLogRecord) (time.Time, error) {
	if attr != "" {
		t, err := time.Parse(time.RFC3339Nano, attr)
		if err != nil {
			return time.Time{}, usage.Errorf(usage.EINVALID, "attribute event.timestamp: %q is not an RFC 3339 time", attr)
		}
		return t.UTC(), nil
	}
	for _, ns := range []uint64{lr.timeUnixNano, lr.observedTimeUnixNano} {
		if ns > 0 && ns <= math.MaxInt64 {
			return time.Unix(0, int64(ns)).UTC(), nil
		}
	}
	return time.Time{}, usage.Errorf(usage.EINVALID, "event has no timestamp")
}
