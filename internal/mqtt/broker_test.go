package mqtt

import (
	"encoding/json"
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
type chanEvents struct{ ch chan sipphone.Event }

func (c chanEvents) Subscribe(int) (<-chan sipphone.Event, func()) { return c.ch, func() {} }

// TestBrokerDownAtStartAndBack: the client starts while the broker is down
// (Start returns, events are dropped and counted), connects when the broker
// comes up, publishes the state as it is then, and leaves "offline" on Close.
func TestBrokerDownAtStartAndBack(t *testing.T) {
	b := mqtttest.Start(t)
	b.Kill()
	lines := &lineTable{}
	lines.set(sipphone.LineStatus{ID: "phone1", State: sipphone.StateOnHook, Registered: true})
	evs := chanEvents{ch: make(chan sipphone.Event, 16)}
	c, err := New(Config{URL: b.URL(), TopicPrefix: "t", Discovery: true, MaxReconnectInterval: 500 * time.Millisecond}, lines, evs, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close()
	evs.ch <- sipphone.Event{Type: sipphone.EventOffHook, Line: "phone1"}
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
	evs.ch <- sipphone.Event{Type: sipphone.EventUnregistered, Line: "phone1"}
	w.Wait(mark, "homeassistant/device/t_phone1/config", 10*time.Second, func(m mqtttest.Message) bool { return m.Payload == "" })
	w.Wait(mark, "t/line/phone1/state", 10*time.Second, func(m mqtttest.Message) bool { return m.Payload == "" })

	mark = w.Mark()
	c.Close()
	w.Wait(mark, "t/status", 10*time.Second, func(m mqtttest.Message) bool { return m.Payload == "offline" })
}
