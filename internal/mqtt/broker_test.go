package mqtt

import (
	"encoding/json"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/mqtttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lineTable is a line owner holding a status table (the end-to-end tests
// in internal/app use the real one).
type lineTable struct {
	recorder
	mu sync.Mutex
	st []sipphone.LineStatus
}

func (l *lineTable) Status() []sipphone.LineStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sipphone.LineStatus(nil), l.st...)
}

func (l *lineTable) set(st ...sipphone.LineStatus) {
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
}

// chanEvents is an event source the test feeds.
type chanEvents struct{ ch chan *sipphone.Event }

func (c chanEvents) Subscribe(int) (<-chan *sipphone.Event, func()) { return c.ch, func() {} }

// TestBrokerDownAtStartAndBack: the client starts while the broker is down
// (Start returns, events are dropped and counted), connects when the broker
// comes up, publishes the state as it is then, and leaves "offline" on Close.
func TestBrokerDownAtStartAndBack(t *testing.T) {
	b := mqtttest.Start(t)
	b.Kill()
	lines := &lineTable{}
	lines.set(sipphone.LineStatus{ID: "phone1", State: sipphone.StateOnHook, Registered: true})
	evs := chanEvents{ch: make(chan *sipphone.Event, 16)}
	c, err := New(Config{URL: b.URL(), TopicPrefix: "t", Discovery: true, MaxReconnectInterval: 500 * time.Millisecond}, lines, evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	evs.ch <- &sipphone.Event{Type: sipphone.EventOffHook, Line: "phone1"}
	deadline := time.Now().Add(10 * time.Second)
	for c.Dropped() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an event published while the broker is down was not counted as dropped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c.Connected() {
		t.Fatal("connected without a broker")
	}
	off := true
	lines.set(sipphone.LineStatus{ID: "phone1", State: sipphone.StateOffHook, OffHook: &off, Registered: true})

	b.Restart()
	w := mqtttest.Watch(t, b, "#")
	// The state as it is now, not as it was when the event was dropped.
	w.Wait(0, "t/line/phone1/state", 30*time.Second, func(m mqtttest.Message) bool {
		var st LineState
		return json.Unmarshal([]byte(m.Payload), &st) == nil && st.State == sipphone.StateOffHook
	})
	w.Wait(0, "homeassistant/device/t_phone1/config", 10*time.Second, nil)
	if !c.Connected() || c.MessagesOut() == 0 {
		t.Fatalf("stats %+v", c.Stats())
	}

	// A line that is gone loses its device and its state.
	mark := w.Mark()
	lines.set()
	evs.ch <- &sipphone.Event{Type: sipphone.EventUnregistered, Line: "phone1"}
	w.Wait(mark, "homeassistant/device/t_phone1/config", 10*time.Second, func(m mqtttest.Message) bool { return m.Payload == "" })
	w.Wait(mark, "t/line/phone1/state", 10*time.Second, func(m mqtttest.Message) bool { return m.Payload == "" })

	mark = w.Mark()
	c.Close()
	w.Wait(mark, "t/status", 10*time.Second, func(m mqtttest.Message) bool { return m.Payload == "offline" })
}

// proxy forwards TCP connections to a broker; cut drops every connection
// abruptly (no MQTT DISCONNECT), as a network failure would.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestLastWill: when the connection breaks, the broker publishes
// sipphone's last will (offline); the client reconnects and is online again.
func TestLastWill(t *testing.T) {
	b := mqtttest.Start(t)
	p := startProxy(t, "127.0.0.1:"+strconv.Itoa(b.Port))
	lines := &lineTable{}
	c, err := New(Config{URL: "mqtt://" + p.ln.Addr().String(), TopicPrefix: "w", MaxReconnectInterval: 500 * time.Millisecond},
		lines, chanEvents{ch: make(chan *sipphone.Event)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := mqtttest.Watch(t, b, "w/status")
	c.Start()
	defer c.Close()
	w.Wait(0, "w/status", 15*time.Second, func(m mqtttest.Message) bool { return m.Payload == "online" })
	mark := w.Mark()
	p.cut()
	w.Wait(mark, "w/status", 15*time.Second, func(m mqtttest.Message) bool { return m.Payload == "offline" })
	w.Wait(mark, "w/status", 15*time.Second, func(m mqtttest.Message) bool { return m.Payload == "online" })
	if c.Reconnects() < 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
}
