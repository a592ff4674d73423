package httpapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{usage.Errorf(usage.EINVALID, "x"), httpapi.CodeInvalidParams, 400},
		{usage.Errorf(usage.ECONFLICT, "x"), httpapi.CodeInvalidParams, 400},
		{usage.Errorf(usage.EUNAUTHORIZED, "x"), httpapi.CodeUnauthorized, 401},
		{usage.Errorf(usage.EFORBIDDEN, "x"), httpapi.CodeForbidden, 403},
		{usage.Errorf(usage.ENOTFOUND, "x"), httpapi.CodeNotFound, 404},
		{usage.Errorf(usage.EINTERNAL, "x"), httpapi.CodeInternalError, 500},
		{errors.New("disk on fire"), httpapi.CodeInternalError, 500},
	} {
		code, status := httpapi.Status(tc.err)
		if code != tc.code || status != tc.status {
			t.Errorf("Status(%v) = %s %d, want %s %d", tc.err, code, status, tc.code, tc.status)
		}
	}
}

func TestWriteError(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	t.Run("usage error keeps its message", func(t *testing.T) {
		w := httptest.NewRecorder()
		httpapi.WriteError(w, httptest.NewRequest("GET", "/x", nil), discard, usage.Errorf(usage.EUNAUTHORIZED, "bad token"))
		env := decode(t, w, 401)
		if env.Success || env.Error == nil || env.Error.Code != httpapi.CodeUnauthorized || env.Error.Message != "bad token" {
			t.Errorf("envelope = %+v, want UNAUTHORIZED with the message", env)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="ctm"` {
			t.Errorf("WWW-Authenticate = %q, want the Bearer realm", got)
		}
	})
	t.Run("internal error hides its message", func(t *testing.T) {
		w := httptest.NewRecorder()
		httpapi.WriteError(w, httptest.NewRequest("GET", "/x", nil), discard, errors.New("password=hunter2"))
		env := decode(t, w, 500)
		if env.Error == nil || env.Error.Code != httpapi.CodeInternalError || env.Error.Message == "password=hunter2" {
			t.Errorf("envelope = %+v, want INTERNAL_ERROR without the internal message", env)
		}
	})
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	httpapi.WriteJSON(w, httptest.NewRequest("GET", "/x", nil), slog.New(slog.DiscardHandler), map[string]int{"n": 1})
	env := decode(t, w, 200)
	if !env.Success || env.Error != nil {
		t.Errorf("envelope = %+v, want success", env)
	}
	if got := env.Data.(map[string]any)["n"]; got != 1.0 {
		t.Errorf("data.n = %v, want 1", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}

	w = httptest.NewRecorder()
	httpapi.WriteJSON(w, httptest.NewRequest("HEAD", "/x", nil), slog.New(slog.DiscardHandler), 1)
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %q; want 200 and no body", w.Code, w.Body)
	}
}

func decode(t *testing.T, w *httptest.ResponseRecorder, status int) httpapi.Envelope {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d", w.Code, status)
	}
	var env httpapi.Envelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if _, err := time.Parse(time.RFC3339, env.Timestamp); err != nil {
		t.Errorf("timestamp %q is not RFC 3339: %v", env.Timestamp, err)
	}
	return env
}
