package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocket message types (DESIGN §4). The server sends all but ping; a
// client may send ping (answered with pong) and pong.
const (
	MsgConnected   = "connected"
	MsgStatsUpdate = "stats_update"
	MsgHeartbeat   = "heartbeat"
	MsgPing        = "ping"
	MsgPong        = "pong"
	MsgError       = "error"
	MsgBlockUpdate = "block_update"
	MsgAlert       = "alert"
	// MsgBudgetAlert carries a budget.Alert: a budget crossed 50, 80 or
	// 100 % of its amount in its current period, sent once per budget,
	// period and threshold.
	MsgBudgetAlert = "budget_alert"
)

// Default values of HubOptions fields.
const (
	DefaultMaxWSClients      = 100
	DefaultWSSendQueue       = 64
	DefaultWSMaxMessageBytes = 4 << 10
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultWSPingInterval    = 30 * time.Second
	DefaultWSPongTimeout     = 10 * time.Second
	DefaultWSWriteTimeout    = 10 * time.Second
	DefaultStatsInterval     = 75 * time.Millisecond
)

// Close codes and reasons sent when the server ends a connection.
const (
	closeTooSlow      = websocket.StatusPolicyViolation
	reasonTooSlow     = "client too slow: send queue full"
	closeTooMany      = websocket.StatusTryAgainLater
	closeShuttingDown = websocket.StatusGoingAway
	reasonShutdown    = "server shutting down"
)

// Log attribute keys of the WebSocket hub.
const (
	logKeyClient  = "client_id"
	logKeyClients = "clients"
	logKeyReason  = "reason"
)

// HubOptions configures a Hub. Zero values take the defaults.
type HubOptions struct {
	// Stats returns the data of a stats_update: the body of GET /stats.
	// nil disables stats_update; in Options.WebSocket, nil takes
	// Server.StatsSummary.
	Stats func(ctx context.Context) (any, error)
	// MaxClients caps concurrent connections (default 100); one more is
	// accepted and closed at once with StatusTryAgainLater and a reason.
	MaxClients int
	// SendQueue is how many messages may wait for one client (default 64).
	// A client whose queue is full is dropped, so that it never holds up
	// the others.
	SendQueue int
	// MaxMessageBytes is the largest client message handled (default
	// 4 KiB); a larger one is answered with an error message. Messages
	// over 16 times this size close the connection with StatusMessageTooBig
	// without being read into memory.
	MaxMessageBytes int64
	// HeartbeatInterval is the period of heartbeat messages (default 30 s).
	HeartbeatInterval time.Duration
	// PingInterval is the period of protocol pings (default 30 s); a peer
	// that does not answer within PongTimeout (default 10 s) is closed.
	PingInterval, PongTimeout time.Duration
	// WriteTimeout bounds each write to a client (default 10 s).
	WriteTimeout time.Duration
	// StatsInterval is the least time between two stats_update messages
	// (default 75 ms, the watcher's debounce): ingests that finish within
	// one interval produce one update.
	StatsInterval time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

func (o HubOptions) withDefaults() HubOptions {
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.MaxClients <= 0 {
		o.MaxClients = DefaultMaxWSClients
	}
	if o.SendQueue <= 0 {
		o.SendQueue = DefaultWSSendQueue
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultWSMaxMessageBytes
	}
	setDur(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	setDur(&o.PingInterval, DefaultWSPingInterval)
	setDur(&o.PongTimeout, DefaultWSPongTimeout)
	setDur(&o.WriteTimeout, DefaultWSWriteTimeout)
	setDur(&o.StatsInterval, DefaultStatsInterval)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Message is the shape of every WebSocket message, in both directions.
type Message struct {
	Type string `json:"type"`
	Data any    `json:"data,omitempty"`
	// Timestamp is when the server sent the message, RFC 3339 with
	// milliseconds, UTC.
	Timestamp string `json:"timestamp"`
}

// wsTimeFormat is RFC 3339 with milliseconds: clients measure latency.
const wsTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// ConnectedData is the data of a connected message.
type ConnectedData struct {
	ClientID   string `json:"client_id"`
	ServerTime string `json:"server_time"`
}

// HeartbeatData is the data of a heartbeat message.
type HeartbeatData struct {
	ServerTime string `json:"server_time"`
	Clients    int    `json:"clients"`
}

// ErrorData is the data of an error message.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Codes of error messages sent to a client.
const (
	wsCodeUnknownType = "UNKNOWN_TYPE"
	wsCodeInvalid     = "INVALID_MESSAGE"
	wsCodeTooLarge    = "MESSAGE_TOO_LARGE"
)

// Hub keeps the WebSocket clients and broadcasts to them. Each client has
// a bounded queue drained by its own goroutine; a client that cannot keep
// up is dropped instead of slowing anyone else. A Server creates, serves
// and closes its own (Options.WebSocket, Server.Hub); there is no other.
type Hub struct {
	opts HubOptions

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	notify chan struct{}
	loopWG sync.WaitGroup
	connWG sync.WaitGroup // one per connection handler

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool

	dropped atomic.Int64
}

// newHub returns a running Hub; call Close to stop it.
func newHub(opts HubOptions) *Hub {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		opts:    opts,
		ctx:     ctx,
		cancel:  cancel,
		notify:  make(chan struct{}, 1),
		clients: map[*client]struct{}{},
	}
	h.loopWG.Go(h.loop)
	return h
}

// client is one connection as the hub sees it.
type client struct {
	id   string
	send chan []byte
	// gone is closed when the hub ends the connection; code and reason
	// are set before.
	gone     chan struct{}
	goneOnce sync.Once
	code     websocket.StatusCode
	reason   string
}

func newClient(queue int) *client {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &client{id: hex.EncodeToString(b[:]), send: make(chan []byte, queue), gone: make(chan struct{})}
}

// end asks the client's handler to close with code and reason; the first
// call wins, and only it reports true.
func (c *client) end(code websocket.StatusCode, reason string) (first bool) {
	c.goneOnce.Do(func() {
		c.code, c.reason = code, reason
		close(c.gone)
		first = true
	})
	return first
}

// drop ends c as too slow, counting it once however many ways it was
// found slow (a full queue, a write that timed out).
func (h *Hub) drop(c *client) {
	if c.end(closeTooSlow, reasonTooSlow) {
		h.dropped.Add(1)
		h.opts.Logger.Warn("websocket client too slow; dropping it", slog.String(logKeyClient, c.id),
			slog.Int("queue", cap(c.send)))
	}
}

// register adds c unless the hub is closed or full; it returns the close
// code and reason to refuse it with otherwise.
func (h *Hub) register(c *client) (websocket.StatusCode, string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return closeShuttingDown, reasonShutdown, false
	case len(h.clients) >= h.opts.MaxClients:
		return closeTooMany, fmt.Sprintf("too many clients: limit is %d, try again later", h.opts.MaxClients), false
	}
	h.clients[c] = struct{}{}
	// Added under mu, before Close can set closed and Wait.
	h.connWG.Add(1)
	return 0, "", true
}

// unregister removes a client registered by register.
func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	h.connWG.Done()
}

// Clients returns the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Dropped returns how many clients were dropped for being too slow.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// encode builds a message with the current time.
func (h *Hub) encode(typ string, data any) ([]byte, error) {
	b, err := json.Marshal(Message{Type: typ, Data: data, Timestamp: h.opts.Now().UTC().Format(wsTimeFormat)})
	if err != nil {
		return nil, fmt.Errorf("encode %s message: %w", typ, err)
	}
	return b, nil
}

// Broadcast sends a message of type typ carrying data to every client. It
// never blocks: a client whose queue is full is dropped. It fails only
// when data cannot be encoded as JSON.
func (h *Hub) Broadcast(typ string, data any) error {
	b, err := h.encode(typ, data)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if !h.enqueue(c, b) {
			// Out of the hub at once: no more broadcasts, and its slot
			// is free while its connection is torn down.
			delete(h.clients, c)
		}
	}
	return nil
}

// forget takes a dropped client out of the hub; its handler still
// unregisters it when it returns.
func (h *Hub) forget(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// BroadcastBlockUpdate sends a block_update (the current 5-hour block).
func (h *Hub) BroadcastBlockUpdate(data any) error { return h.Broadcast(MsgBlockUpdate, data) }

// BroadcastAlert sends an alert (e.g. a usage limit about to be reached).
func (h *Hub) BroadcastAlert(data any) error { return h.Broadcast(MsgAlert, data) }

// BroadcastBudgetAlert sends a budget_alert message.
func (h *Hub) BroadcastBudgetAlert(data any) error { return h.Broadcast(MsgBudgetAlert, data) }

// enqueue queues b for c, or drops c when its queue is full and returns
// false; the caller then takes c out of the hub (see forget).
func (h *Hub) enqueue(c *client, b []byte) bool {
	select {
	case <-c.gone:
		return true
	default:
	}
	select {
	case c.send <- b:
	default:
		h.drop(c)
		return false
	}
	return true
}

// NotifyIngest tells the hub that an ingest stored records. A stats_update
// follows, at most one per StatsInterval however often this is called; it
// never blocks.
func (h *Hub) NotifyIngest() {
	select {
	case h.notify <- struct{}{}:
	default: // an update is already due
	}
}

// loop sends heartbeats and stats updates until Close.
func (h *Hub) loop() {
	heartbeat := time.NewTicker(h.opts.HeartbeatInterval)
	defer heartbeat.Stop()
	timer := time.NewTimer(0)
	<-timer.C
	var due <-chan time.Time // nil unless an update is scheduled
	var last time.Time
	for {
		select {
		case <-h.ctx.Done():
			timer.Stop()
			return
		case <-heartbeat.C:
			data := HeartbeatData{ServerTime: h.opts.Now().UTC().Format(wsTimeFormat), Clients: h.Clients()}
			_ = h.Broadcast(MsgHeartbeat, data) // HeartbeatData always encodes
		case <-h.notify:
			if due != nil {
				continue // already scheduled; it will include this ingest
			}
			if wait := h.opts.StatsInterval - time.Since(last); wait > 0 {
				timer.Reset(wait)
				due = timer.C
				continue
			}
			h.sendStats()
			last = time.Now()
		case <-due:
			due = nil
			h.sendStats()
			last = time.Now()
		}
	}
}

// sendStats computes the /stats body once and broadcasts it.
func (h *Hub) sendStats() {
	if h.opts.Stats == nil || h.Clients() == 0 {
		return
	}
	data, err := h.opts.Stats(h.ctx)
	if err != nil {
		if h.ctx.Err() == nil {
			h.opts.Logger.Error("websocket: compute stats update", slog.Any("error", err))
		}
		return
	}
	if err := h.Broadcast(MsgStatsUpdate, data); err != nil {
		h.opts.Logger.Error("websocket: send stats update", slog.Any("error", err))
	}
}

// Close ends every connection with StatusGoingAway, refuses new ones, and
// waits until the connection handlers and the hub's goroutine are done. A
// peer that does not answer the close handshake holds its handler for at
// most the WebSocket library's 5 s close timeouts. Call it before closing
// the HTTP server, whose Shutdown does not track upgraded connections. It
// is safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		c.end(closeShuttingDown, reasonShutdown)
	}
	h.mu.Unlock()
	h.cancel()
	h.loopWG.Wait()
	h.connWG.Wait()
}
