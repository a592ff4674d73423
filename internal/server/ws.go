package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"encoding/json"
	"github.com/coder/websocket"
)

// originAllowed reports whether a browser at origin may open a WebSocket:
// the server's own origin (the dashboard) or a configured CORS origin.
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	for _, o := range s.opts.CORSOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host)
}

// StatsSummary returns the data of GET /stats, the payload of
// stats_update messages: the same view, over every user's records.
func (s *Server) StatsSummary(ctx context.Context) (any, error) {
	st, err := s.views(ctx).Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats summary: %w", err)
	}
	return st, nil
}

// serve runs one WebSocket connection: this goroutine writes, one reads
// client messages and one pings. All three end when any of them fails or
// the hub ends the client.
func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	log := loggerFrom(r.Context())
	// The origin was checked by handleWebSocket, which knows the CORS list.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		log.Info("websocket handshake failed", slog.Any("error", err))
		return // Accept has written the HTTP error
	}
	// The hard limit keeps a huge message from being read into memory; up
	// to it, an oversized message gets an error reply instead.
	conn.SetReadLimit(16 * h.opts.MaxMessageBytes)

	c := newClient(h.opts.SendQueue)
	if code, reason, ok := h.register(c); !ok {
		log.Warn("websocket client refused", slog.String(logKeyReason, reason))
		_ = conn.Close(code, reason)
		return
	}
	defer h.unregister(c)
	log = log.With(slog.String(logKeyClient, c.id))
	log.Info("websocket client connected", slog.Int(logKeyClients, h.Clients()))

	// Not r.Context(): the connection is hijacked and outlives the request
	// as far as net/http is concerned. Not h.ctx either: on shutdown the
	// hub ends clients through c.gone, so that they get a close code
	// before their reads are cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := h.opts.Now().UTC().Format(wsTimeFormat)
	if hello, err := h.encode(MsgConnected, ConnectedData{ClientID: c.id, ServerTime: now}); err == nil && !h.enqueue(c, hello) {
		h.forget(c)
	}

	var wg sync.WaitGroup
	wg.Go(func() { h.read(ctx, cancel, conn, c) })
	var pingReason string // set by ping before it cancels
	wg.Go(func() { pingReason = h.ping(ctx, cancel, conn) })
	// A client dropped while a write to it is stuck (it reads nothing and
	// the socket buffers are full) must not hold its connection until the
	// write timeout or the next ping: the write in progress gets a moment
	// to finish, so that the close frame can still follow, then is cut.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wg.Go(func() {
		select {
		case <-c.gone:
			t := time.NewTimer(min(dropGrace, h.opts.WriteTimeout))
			defer t.Stop()
			select {
			case <-t.C:
				wcancel()
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	})
	code, reason := h.write(wctx, conn, c)
	if code != 0 {
		// Before cancel, which would abort the reader and the connection
		// with it. Best effort: a peer that reads nothing cannot receive
		// it, and Close gives up after its own 5 s timeout.
		_ = conn.Close(code, reason)
	}
	cancel()
	_ = conn.CloseNow()
	wg.Wait()
	if pingReason != "" && code == 0 {
		reason = pingReason
	}
	if code == closeTooSlow {
		log.Warn("websocket client dropped", slog.String(logKeyReason, reason))
		return
	}
	log.Info("websocket client disconnected", slog.String(logKeyReason, reason))
}

// dropGrace is how long a write in progress to a dropped client may still
// take before the connection is cut.
const dropGrace = time.Second

// write sends c's queue until the connection fails or the hub ends the
// client; it returns the close code and reason to send, 0 for none.
func (h *Hub) write(ctx context.Context, conn *websocket.Conn, c *client) (websocket.StatusCode, string) {
	for {
		select {
		case <-c.gone:
			return c.code, c.reason
		case <-ctx.Done():
			select {
			case <-c.gone: // cut because it was dropped
				return c.code, c.reason
			default:
			}
			return 0, "connection closed"
		case b := <-c.send:
			wctx, cancel := context.WithTimeout(ctx, h.opts.WriteTimeout)
			err := conn.Write(wctx, websocket.MessageText, b)
			// DeadlineExceeded only when the write itself ran out of time: a
			// connection cut first leaves Canceled.
			timedOut := errors.Is(wctx.Err(), context.DeadlineExceeded)
			cancel()
			if err != nil {
				if timedOut {
					// It read nothing for WriteTimeout: as slow as a
					// client whose queue filled, and counted the same.
					h.drop(c)
				}
				select {
				case <-c.gone: // cut because it was dropped
					return c.code, c.reason
				default:
				}
				return 0, "write failed"
			}
		}
	}
}

// ping checks every PingInterval that the peer still answers, so that a
// vanished client is noticed even when nothing is broadcast.
func (h *Hub) ping(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn) (reason string) {
	t := time.NewTicker(h.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, h.opts.PongTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				if ctx.Err() != nil {
					return ""
				}
				cancel()
				return fmt.Sprintf("no pong within %v", h.opts.PongTimeout)
			}
		}
	}
}

// clientMessage is what a client may send.
type clientMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// read handles client messages until the connection fails. Replies go
// through the client's queue, so the writer stays the only writer of
// data messages.
func (h *Hub) read(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, c *client) {
	defer cancel()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == -1 && !errors.Is(err, context.Canceled) {
				h.opts.Logger.Debug("websocket read ended", slog.String(logKeyClient, c.id), slog.Any("error", err))
			}
			return
		}
		typ, reply := h.reply(data)
		if typ == "" {
			continue
		}
		if b, err := h.encode(typ, reply); err == nil && !h.enqueue(c, b) {
			h.forget(c)
		}
	}
}

// reply returns the answer to one client message, or "" for none.
func (h *Hub) reply(data []byte) (string, any) {
	if int64(len(data)) > h.opts.MaxMessageBytes {
		return MsgError, ErrorData{Code: wsCodeTooLarge,
			Message: fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", len(data), h.opts.MaxMessageBytes)}
	}
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return MsgError, ErrorData{Code: wsCodeInvalid, Message: "message is not a JSON object with a type"}
	}
	switch m.Type {
	case MsgPing:
		return MsgPong, map[string]string{"server_time": h.opts.Now().UTC().Format(wsTimeFormat)}
	case MsgPong:
		return "", nil
	}
	return MsgError, ErrorData{Code: wsCodeUnknownType,
		Message: fmt.Sprintf("unknown message type %q; clients may send %q or %q", m.Type, MsgPing, MsgPong)}
}
