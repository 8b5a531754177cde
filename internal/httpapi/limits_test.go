package httpapi

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/rtp"
)

// wsServer serves the WebSocket handler over a real listener on loopback.
func wsServer(tb testing.TB, clients *Clients) (*httptest.Server, chan struct{}) {
	tb.Helper()
	bus := events.New(64, 0)
	m, err := line.New(line.Config{Bus: bus, Media: line.MediaConfig{Ports: rtp.NewPorts(netip.MustParseAddr("127.0.0.1"), 0, 0)}})
	if err != nil {
		tb.Fatal(err)
	}
	m.Start()
	shutdown := make(chan struct{})
	srv := httptest.NewServer(NewWS(Deps{Lines: m, Bus: bus, Clients: clients, Shutdown: shutdown}))
	tb.Cleanup(func() {
		close(shutdown)
		srv.CloseClientConnections()
		srv.Close()
		m.Close()
	})
	return srv, shutdown
}

// rawWS opens /ws with a bare handshake from local address from (""
// for any) and leaves the connection idle: the client side costs next to
// nothing, so memory measured is the server's. It returns the status line
// and, on success, the connection.
func rawWS(tb testing.TB, srv *httptest.Server, from string) (string, net.Conn) {
	tb.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", srv.Listener.Addr(), key)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	// Read the status line a byte at a time: no client-side buffer to
	// count in the server's memory.
	var line []byte
	for b := make([]byte, 1); !strings.HasSuffix(string(line), "\n"); line = append(line, b[0]) {
		if _, err := c.Read(b); err != nil {
			tb.Fatalf("handshake: %v", err)
		}
	}
	status := string(line)
	c.SetReadDeadline(time.Time{})
	if !strings.Contains(status, " 101 ") {
		c.Close()
		return status, nil
	}
	tb.Cleanup(func() { c.Close() })
	return status, c
}

func TestClientLimits(t *testing.T) {
	clients := NewClients()
	clients.SetLimits(3, 2)
	srv, _ := wsServer(t, clients)
	for i := 0; i < 2; i++ {
		if status, c := rawWS(t, srv, "127.0.0.1"); c == nil {
			t.Fatalf("connection %d refused: %s", i, status)
		}
	}
	if status, c := rawWS(t, srv, "127.0.0.1"); c != nil || !strings.Contains(status, " 503 ") {
		t.Fatalf("third connection from one address: %q, want 503", status)
	}
	if status, c := rawWS(t, srv, "127.0.0.2"); c == nil {
		t.Fatalf("another address refused: %s", status)
	}
	if status, c := rawWS(t, srv, "127.0.0.3"); c != nil || !strings.Contains(status, " 503 ") {
		t.Fatalf("connection over max_clients: %q, want 503", status)
	}
	if n := clients.Refused.Load(); n != 2 {
		t.Fatalf("Refused = %d, want 2", n)
	}
}

// BenchmarkIdleEventClientMemory measures the server's memory per idle
// /ws client (heap and goroutine stacks): the target is at most 16 KB.
func BenchmarkIdleEventClientMemory(b *testing.B) {
	const n = 300
	clients := NewClients()
	clients.SetLimits(n+10, n+10)
	srv, _ := wsServer(b, clients)
	var before, after runtime.MemStats
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()
		conns := make([]net.Conn, 0, n)
		for range n {
			status, c := rawWS(b, srv, "")
			if c == nil {
				b.Fatal(status)
			}
			conns = append(conns, c)
		}
		// Wait until every client got its snapshot and sits idle.
		deadline := time.Now().Add(30 * time.Second)
		for clients.Count() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Steady state: each GC halves the stacks of idle goroutines that
		// use under a quarter of theirs, as the runtime's own periodic GC
		// does on an idle server.
		for range 4 {
			runtime.GC()
		}
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapInuse) - float64(before.HeapInuse)
		stack := float64(after.StackInuse) - float64(before.StackInuse)
		b.ReportMetric((heap+stack)/n, "bytes/idle_client")
		b.ReportMetric(heap/n, "heap_bytes/idle_client")
		b.ReportMetric(stack/n, "stack_bytes/idle_client")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/n, "goroutines/idle_client")
		for _, c := range conns {
			c.Close()
		}
		for clients.Count() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
