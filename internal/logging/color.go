package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ANSI escape sequences for the coloured text handler.
const (
	ansiReset  = "\x1b[0m"
	ansiFaint  = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// timeFormat is one token (no spaces) so that lines stay easy to split.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// colorHandler writes human-oriented text lines for a terminal:
//
//	2026-01-02T15:04:05.000+01:00 INFO  message key=value group.key=value
//
// with the level coloured and keys faint. Values are quoted when they
// contain spaces, '=', quotes or control characters, as in slog's
// TextHandler.
type colorHandler struct {
	// mu is shared by every handler derived with WithAttrs/WithGroup so
	// that lines written through any of them never interleave.
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	// attrs holds the attributes added by WithAttrs, already formatted.
	attrs []byte
	// prefix is the group path ("a.b.") that qualifies record attributes.
	prefix string
}

func newColorHandler(w io.Writer, level slog.Leveler) *colorHandler {
	return &colorHandler{mu: &sync.Mutex{}, w: w, level: level}
}

// Enabled reports whether l is at or above the handler's level.
func (h *colorHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs, qualified by the current
// groups, to every record.
func (h *colorHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = append([]byte(nil), h.attrs...)
	for _, a := range attrs {
		h2.attrs = appendAttr(h2.attrs, h.prefix, a)
	}
	return &h2
}

// WithGroup returns a handler that qualifies later attributes with name.
func (h *colorHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// Handle formats r as one line and writes it.
func (h *colorHandler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 256)
	if !r.Time.IsZero() {
		buf = r.Time.AppendFormat(buf, timeFormat)
		buf = append(buf, ' ')
	}
	buf = appendLevel(buf, r.Level)
	buf = append(buf, ' ')
	buf = appendMessage(buf, r.Message)
	buf = append(buf, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, h.prefix, a)
		return true
	})
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

func appendLevel(b []byte, l slog.Level) []byte {
	color := ansiCyan
	switch {
	case l >= slog.LevelError:
		color = ansiRed
	case l >= slog.LevelWarn:
		color = ansiYellow
	case l >= slog.LevelInfo:
		color = ansiGreen
	}
	b = append(b, color...)
	b = fmt.Appendf(b, "%-5s", l.String())
	return append(b, ansiReset...)
}

// appendMessage writes the message bare unless it has control characters,
// which could forge extra log lines on a terminal.
func appendMessage(b []byte, msg string) []byte {
	for _, r := range msg {
		if unicode.IsControl(r) {
			return strconv.AppendQuote(b, msg)
		}
	}
	return append(b, msg...)
}

// appendAttr writes " key=value" for a, resolving LogValuers, inlining
// groups with an empty key and dropping empty attributes and groups, as
// the slog.Handler contract asks.
func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			b = appendAttr(b, p, ga)
		}
		return b
	}
	b = append(b, ' ')
	b = append(b, ansiFaint...)
	b = appendText(b, prefix+a.Key)
	b = append(b, '=')
	b = append(b, ansiReset...)
	return appendText(b, valueText(a.Value))
}

func valueText(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindTime:
		return v.Time().Format(timeFormat)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		return fmt.Sprintf("%+v", v.Any())
	case slog.KindDuration:
		return v.Duration().String()
	default:
		return v.String()
	}
}

// appendText writes s, quoted when it would otherwise be ambiguous.
func appendText(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == '=' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}
