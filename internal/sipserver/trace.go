package sipserver

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
)

// Message is a SIP message kept for diagnostics.
type Message = sipphone.SIPMessage

// messageLog keeps the last messages of one server.
type messageLog struct {
	tracing atomic.Bool

	// mu guards ring, next and full.
	mu   sync.Mutex
	ring []Message
	next int
	full bool
}

func (l *messageLog) add(m Message) {
	l.mu.Lock()
	l.ring[l.next] = m
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	l.mu.Unlock()
}

// Messages returns the kept messages, oldest first.
func (l *messageLog) messages() []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Message
	if l.full {
		out = append(out, l.ring[l.next:]...)
	}
	return append(out, l.ring[:l.next]...)
}

// sipgo reports raw messages through one process-wide tracer; traceHub
// hands each to the server that owns the local port it passed through.
var traceHub = &hub{byPort: map[int]*messageLog{}}

type hub struct {
	install sync.Once
	// mu guards byPort.
	mu     sync.RWMutex
	byPort map[int]*messageLog
}

// installTracer makes the hub sipgo's tracer. sipgo has one for the whole
// process, read by every transport goroutine, so it is set once, by the
// first New, before any server's goroutine runs; a program that imports
// this package without building a server keeps sipgo's defaults.
func (h *hub) installTracer() {
	h.install.Do(func() {
		sip.SIPDebug = true
		sip.SIPDebugTracer(h)
	})
}

// register hands the messages through port to l.
func (h *hub) register(port int, l *messageLog) {
	h.mu.Lock()
	h.byPort[port] = l
	h.mu.Unlock()
}

func (h *hub) unregister(port int, l *messageLog) {
	h.mu.Lock()
	if h.byPort[port] == l {
		delete(h.byPort, port)
	}
	h.mu.Unlock()
}

func (h *hub) record(dir, transport, laddr, raddr string, msg []byte) {
	_, p, err := net.SplitHostPort(laddr)
	if err != nil {
		return
	}
	port, _ := strconv.Atoi(p)
	h.mu.RLock()
	l := h.byPort[port]
	h.mu.RUnlock()
	if l == nil {
		return
	}
	first := msg
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		first = msg[:i]
	}
	m := Message{Time: time.Now(), Direction: dir, Transport: transport, Peer: raddr,
		FirstLine: string(bytes.TrimRight(first, "\r")), Size: len(msg)}
	if l.tracing.Load() {
		m.Text = string(msg)
	}
	l.add(m)
}

// SIPTraceRead implements sip.SIPTracer.
func (h *hub) SIPTraceRead(transport, laddr, raddr string, msg []byte) {
	h.record("in", transport, laddr, raddr, msg)
}

// SIPTraceWrite implements sip.SIPTracer.
func (h *hub) SIPTraceWrite(transport, laddr, raddr string, msg []byte) {
	h.record("out", transport, laddr, raddr, msg)
}

// Messages returns the last SIP messages (oldest first).
func (s *Server) Messages() []Message { return s.msgs.messages() }

// SetTracing turns keeping whole messages on or off.
func (s *Server) SetTracing(on bool) {
	s.msgs.tracing.Store(on)
	s.log.Info("SIP tracing", "on", on)
}

// Tracing reports whether whole messages are kept.
func (s *Server) Tracing() bool { return s.msgs.tracing.Load() }
