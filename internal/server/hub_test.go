package server_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/coder/websocket"
)

// dialSmall connects with a small socket receive buffer, so that a client
// that stops reading backs up quickly.
func dialSmall(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(8 << 10)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// payload is a broadcast with a sequence number and some bulk, about the
// size of a real stats_update.
type payload struct {
	Seq  int    `json:"seq"`
	Bulk string `json:"bulk"`
}

// TestHubSlowClientNeverBlocksOthers connects 100 clients that read and
// one that never reads. Every broadcast must reach the 100 in order while
// the silent one is dropped.
func TestHubSlowClientNeverBlocksOthers(t *testing.T) {
	const readers, updates = 100, 50
	l := newLive(t, liveConfig{smallBuffers: true, hub: server.HubOptions{
		MaxClients: readers + 1, SendQueue: 8, WriteTimeout: 2 * time.Second,
	}})
	silent := dialSmall(t, l.ws)
	_ = silent // never read

	var got [readers]atomic.Int64 // last seq seen by each reader
	var bad atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wg.Wait() }()
	for i := range readers {
		c, _ := mustDial(t, l.ws)
		wg.Go(func() {
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				m := decode[wsMsg](t, b)
				if m.Type != server.MsgStatsUpdate {
					continue
				}
				p := decode[payload](t, m.Data)
				if int64(p.Seq) != got[i].Load()+1 {
					bad.Add(1) // lost or out of order
				}
				got[i].Store(int64(p.Seq))
			}
		})
	}
	waitFor(t, "all clients registered", func() bool { return l.hub.Clients() == readers+1 })

	bulk := strings.Repeat("x", 2<<10)
	for seq := 1; seq <= updates; seq++ {
		if err := l.hub.Broadcast(server.MsgStatsUpdate, payload{Seq: seq, Bulk: bulk}); err != nil {
			t.Fatal(err)
		}
		// Lockstep: if the silent client held up the hub, the readers
		// would never see this update.
		waitFor(t, "every reader to get the update", func() bool {
			for i := range got {
				if got[i].Load() < int64(seq) {
					return false
				}
			}
			return true
		})
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d updates lost or reordered", n)
	}
	waitFor(t, "the silent client to be dropped", func() bool { return l.hub.Clients() == readers })
	if d := l.hub.Dropped(); d != 1 {
		t.Errorf("Dropped() = %d, want 1 (only the silent client)", d)
	}
}

// TestHubWriteTimeoutCountsAsDrop checks that a client whose write times
// out (its queue far from full) is dropped as too slow and counted once,
// as one whose queue filled would be.
func TestHubWriteTimeoutCountsAsDrop(t *testing.T) {
	l := newLive(t, liveConfig{smallBuffers: true, hub: server.HubOptions{SendQueue: 10_000, WriteTimeout: 200 * time.Millisecond}})
	silent := dialSmall(t, l.ws)
	_ = silent // never read
	waitFor(t, "client registered", func() bool { return l.hub.Clients() == 1 })
	bulk := strings.Repeat("w", 4<<10)
	// 800 KB: far more than the socket buffers hold, far less than the queue.
	for seq := 1; seq <= 200; seq++ {
		if err := l.hub.Broadcast(server.MsgStatsUpdate, payload{Seq: seq, Bulk: bulk}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the silent client to be dropped", func() bool { return l.hub.Clients() == 0 })
	if d := l.hub.Dropped(); d != 1 {
		t.Errorf("Dropped() = %d, want 1", d)
	}
}

// TestHubSlowClientGetsCloseCode checks that a client that reads too late
// finds a policy-violation close after what it was sent.
func TestHubSlowClientGetsCloseCode(t *testing.T) {
	l := newLive(t, liveConfig{smallBuffers: true, hub: server.HubOptions{SendQueue: 4, WriteTimeout: 10 * time.Second}})
	c := dialSmall(t, l.ws)
	waitFor(t, "client registered", func() bool { return l.hub.Clients() == 1 })
	bulk := strings.Repeat("z", 4<<10)
	for seq := 1; l.hub.Dropped() == 0; seq++ {
		if seq > 10_000 {
			t.Fatal("client never dropped")
		}
		_ = l.hub.Broadcast(server.MsgStatsUpdate, payload{Seq: seq, Bulk: bulk})
	}
	var err error
	for err == nil {
		_, err = tryRead(c, 10*time.Second)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "too slow") {
		t.Errorf("read error = %v, want close %v with a reason saying too slow", err, websocket.StatusPolicyViolation)
	}
}

func TestHubMaxClients(t *testing.T) {
	l := newLive(t, liveConfig{hub: server.HubOptions{MaxClients: 2}})
	mustDial(t, l.ws)
	mustDial(t, l.ws)
	c, _, err := dial(t, l.ws)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	_, err = tryRead(c, 10*time.Second)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusTryAgainLater || !strings.Contains(ce.Reason, "too many clients: limit is 2") {
		t.Errorf("third client: %v, want close StatusTryAgainLater saying the limit", err)
	}
	if n := l.hub.Clients(); n != 2 {
		t.Errorf("Clients() = %d, want 2", n)
	}
}

func TestHubCloseEndsClients(t *testing.T) {
	l := newLive(t, liveConfig{})
	c, _ := mustDial(t, l.ws)
	// Read while Close runs: Close waits for the close handshake, which
	// a coder/websocket client answers only from Read.
	errc := make(chan error, 1)
	go func() {
		_, err := tryRead(c, 10*time.Second)
		errc <- err
	}()
	l.hub.Close()
	err := <-errc
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("close status = %v (%v), want StatusGoingAway", got, err)
	}
	c2, _, err := dial(t, l.ws)
	if err != nil {
		t.Fatalf("Dial after Close: %v", err)
	}
	if _, err := tryRead(c2, 10*time.Second); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client after Close: %v, want StatusGoingAway", err)
	}
	l.hub.Close() // twice is fine
}

func TestHubStatsUpdates(t *testing.T) {
	var calls atomic.Int64
	var fail atomic.Bool
	stats := func(ctx context.Context) (any, error) {
		if fail.Load() {
			return nil, errors.New("store down")
		}
		return map[string]int64{"n": calls.Add(1)}, nil
	}
	const interval = 150 * time.Millisecond
	l := newLive(t, liveConfig{hub: server.HubOptions{Stats: stats, StatsInterval: interval}})

	l.hub.NotifyIngest()
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Errorf("stats computed %d times with no client, want 0", n)
	}

	c, _ := mustDial(t, l.ws)
	start := time.Now()
	for range 50 {
		l.hub.NotifyIngest()
	}
	var times []time.Time
	for {
		m, err := tryRead(c, 3*interval)
		if err != nil {
			break
		}
		if m.Type == server.MsgStatsUpdate {
			times = append(times, time.Now())
		}
	}
	// The first ingest is reported at once, the other 49 together one
	// interval later.
	if len(times) < 1 || len(times) > 2 {
		t.Fatalf("50 ingests gave %d stats updates, want 1 or 2", len(times))
	}
	if len(times) == 2 && times[1].Sub(times[0]) < interval-20*time.Millisecond {
		t.Errorf("updates %v apart, want at least %v", times[1].Sub(times[0]), interval)
	}
	if d := times[0].Sub(start); d > interval {
		t.Errorf("first update after %v, want at once", d)
	}

	// A failing stats source sends nothing (and logs).
	c, _ = mustDial(t, l.ws)
	fail.Store(true)
	l.hub.NotifyIngest()
	if m, err := tryRead(c, 2*interval); err == nil {
		t.Errorf("got %q while stats fail, want nothing", m.Type)
	}
}

// TestHubNoGoroutineLeak connects clients, uses them, disconnects them in
// every way a connection ends, and checks that the goroutine count comes
// back to where it was.
func TestHubNoGoroutineLeak(t *testing.T) {
	settle := func() { time.Sleep(20 * time.Millisecond) }
	settle()
	base := runtime.NumGoroutine()
	func() {
		l := newLive(t, liveConfig{smallBuffers: true, hub: server.HubOptions{
			MaxClients: 30, SendQueue: 2, WriteTimeout: 200 * time.Millisecond,
			PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond,
		}})
		var conns []*websocket.Conn
		for range 25 {
			c, _ := mustDial(t, l.ws)
			send(t, c, `{"type":"ping"}`)
			if m := readMsg(t, c); m.Type != server.MsgPong {
				t.Fatalf("got %q, want pong", m.Type)
			}
			conns = append(conns, c)
		}
		slow := dialSmall(t, l.ws)
		for i := 0; l.hub.Dropped() == 0 && i < 10_000; i++ {
			_ = l.hub.Broadcast(server.MsgAlert, bytes.Repeat([]byte("a"), 4<<10))
		}
		_ = slow.CloseNow()
		for i, c := range conns {
			if i%2 == 0 {
				_ = c.Close(websocket.StatusNormalClosure, "bye")
			} else {
				_ = c.CloseNow()
			}
		}
		waitFor(t, "all clients gone", func() bool { return l.hub.Clients() == 0 })
		l.close()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines after the clients left, %d before:\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		settle()
	}
}

// TestHubDropsStalledClientAtOnce stalls a client (it reads nothing, its
// socket buffers fill) with write and ping timeouts far away: the hub must
// drop it as soon as its queue is full, not when a timeout fires, and
// count it in /metrics.
func TestHubDropsStalledClientAtOnce(t *testing.T) {
	l := newLive(t, liveConfig{smallBuffers: true, hub: server.HubOptions{
		SendQueue: 4, WriteTimeout: time.Hour, PingInterval: time.Hour, PongTimeout: time.Hour,
	}})
	stalled := dialSmall(t, l.ws)
	_ = stalled // never read
	waitFor(t, "client registered", func() bool { return l.hub.Clients() == 1 })
	bulk := strings.Repeat("s", 4<<10)
	for seq := 1; l.hub.Dropped() == 0; seq++ {
		if seq > 10_000 {
			t.Fatal("stalled client never dropped")
		}
		_ = l.hub.Broadcast(server.MsgStatsUpdate, payload{Seq: seq, Bulk: bulk})
	}
	if n := l.hub.Clients(); n != 0 {
		t.Errorf("Clients() = %d right after the drop, want 0", n)
	}
	resp, err := http.Get(l.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	for _, want := range []string{"ctm_websocket_clients_dropped_total 1", "ctm_websocket_clients 0"} {
		if !strings.Contains(body.String(), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
