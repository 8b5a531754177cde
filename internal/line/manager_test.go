package line

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/state"
	"github.com/sip-phone-api/sipphone/internal/stream"
)

// recorder is a Signaller that records what it was asked to do.
type recorder struct {
	mu      sync.Mutex
	rings   []RingRequest
	cancels []string
	hangups []string
}

func (r *recorder) Ring(rq RingRequest) { r.mu.Lock(); r.rings = append(r.rings, rq); r.mu.Unlock() }
func (r *recorder) CancelRing(id string) {
	r.mu.Lock()
	r.cancels = append(r.cancels, id)
	r.mu.Unlock()
}
func (r *recorder) Hangup(id string) { r.mu.Lock(); r.hangups = append(r.hangups, id); r.mu.Unlock() }

func newManager(t *testing.T, lines []LineConfig, statePath string) (*Manager, *recorder, *events.Subscription) {
	t.Helper()
	bus := events.New(64, 0)
	m, err := New(Config{Lines: lines, AutoDial: "100", Bus: bus, StatePath: statePath,
		RingPatterns: map[string]string{"ring3": "<http://127.0.0.1>;info=ring3"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m.SetSignaller(rec)
	m.Start()
	t.Cleanup(m.Close)
	sub, _ := bus.Subscribe(events.Filter{}, 64, nil)
	return m, rec, sub
}

func reg(d time.Duration) sipphone.Registration {
	return sipphone.Registration{Contact: "sip:p@10.0.0.2:5060", Source: "10.0.0.2:5060", Transport: "udp", Expires: time.Now().Add(d)}
}

func expectTypes(t *testing.T, sub *events.Subscription, types ...string) []sipphone.Event {
	t.Helper()
	var got []sipphone.Event
	for _, want := range types {
		select {
		case e := <-sub.C():
			if e.Type != want {
				t.Fatalf("event %s (%+v), want %s", e.Type, e, want)
			}
			got = append(got, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	return got
}

func TestDynamicLinesAndFirstLine(t *testing.T) {
	m, _, sub := newManager(t, nil, "")
	if _, err := m.Line(""); !errors.Is(err, sipphone.ErrLineNotFound) {
		t.Fatalf("first line with none = %v", err)
	}
	id2, _ := m.Register("phone2", reg(time.Hour))
	id1, _ := m.Register("ph one/1", reg(time.Hour))
	if id2 != "phone2" || id1 != "ph_one_1" {
		t.Fatalf("ids %q %q", id2, id1)
	}
	if l, _ := m.Line(""); l.ID != "phone2" {
		t.Fatalf("first line = %s, want the first registered", l.ID)
	}
	expectTypes(t, sub, "registered", "registered")
}

func TestConfiguredLinesRefuseOthers(t *testing.T) {
	m, _, _ := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	if _, err := m.Register("intruder", reg(time.Hour)); !errors.Is(err, sipphone.ErrLineNotFound) {
		t.Fatalf("register unknown user = %v", err)
	}
	if m.IsLine("intruder") || !m.IsLine("phone1") {
		t.Fatal("IsLine wrong")
	}
}

func TestPhoneCallLifecycle(t *testing.T) {
	m, _, sub := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	if _, err := m.AcceptPhoneCall("phone1"); !errors.Is(err, sipphone.ErrNotRegistered) {
		t.Fatalf("accept before register = %v", err)
	}
	m.Register("phone1", reg(time.Hour))
	id, err := m.AcceptPhoneCall("phone1")
	if err != nil || id != "kitchen" {
		t.Fatalf("accept = %q %v", id, err)
	}
	m.PhoneCallStarted("kitchen", CallInfo{ID: "c1", Dialed: "100"})
	if _, err := m.AcceptPhoneCall("phone1"); !errors.Is(err, sipphone.ErrLineBusy) {
		t.Fatalf("second call = %v, want busy", err)
	}
	m.CallEnded("c1", "bye")
	m.PhoneCallStarted("kitchen", CallInfo{ID: "c2", Dialed: "5551234"})
	m.CallEnded("c2", "bye")
	m.CallEnded("c2", "bye") // duplicate BYE: no second event
	got := expectTypes(t, sub, "registered", "off_hook", "on_hook", "off_hook", "dialed", "on_hook")
	if got[4].Number != "5551234" || got[1].CallID != "c1" {
		t.Fatalf("events %+v", got)
	}
	if sub.Len() != 0 {
		t.Fatalf("%d unexpected events left", sub.Len())
	}
}

func TestAutoDialTargets(t *testing.T) {
	m, _, _ := newManager(t, nil, "")
	cases := map[string]bool{"100": true, "": true, "*47192.168.1.10*5060": true, "5551234": false, "1000": false}
	for user, want := range cases {
		if got := m.isAutoDial(user); got != want {
			t.Errorf("isAutoDial(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestRingHangupStates(t *testing.T) {
	m, rec, sub := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	m.Register("phone1", reg(time.Hour))
	ringID, line, err := m.Ring("", RingOptions{Pattern: "ring3", CallerID: sipphone.CallerID{Number: "42"}})
	if err != nil || line != "kitchen" || len(rec.rings) != 1 || rec.rings[0].AlertInfo != "<http://127.0.0.1>;info=ring3" || rec.rings[0].Timeout != 30*time.Second {
		t.Fatalf("ring = %q %q %v %+v", ringID, line, err, rec.rings)
	}
	if _, _, err := m.Ring("kitchen", RingOptions{}); !errors.Is(err, sipphone.ErrLineBusy) {
		t.Fatalf("second ring = %v", err)
	}
	m.RingAnswered(ringID, CallInfo{ID: "c1"})
	m.RingAnswered(ringID, CallInfo{ID: "c1"}) // duplicate: ignored
	if _, err := m.Hangup("kitchen"); err != nil {
		t.Fatal(err)
	}
	if l, _ := m.Line("kitchen"); l.State != sipphone.StateUnknown || l.OffHook != nil {
		t.Fatalf("after hangup: %+v", l)
	}
	if len(rec.hangups) != 1 || rec.hangups[0] != "c1" {
		t.Fatalf("hangups %v", rec.hangups)
	}
	// The next SIP event from the phone clears the unknown state.
	m.PhoneCallStarted("kitchen", CallInfo{ID: "c2"})
	got := expectTypes(t, sub, "registered", "ring_start", "ring_stop", "off_hook", "hangup", "off_hook")
	if got[2].Reason != "answered" || !got[3].Answered || got[4].Reason != "api" {
		t.Fatalf("events %+v", got)
	}
}

func TestExpiryAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	m, _, sub := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}, {ID: "hall", User: "phone2"}}, path)
	m.Register("phone1", reg(50*time.Millisecond))
	m.Register("phone2", reg(time.Hour))
	got := expectTypes(t, sub, "registered", "registered", "unregistered")
	if got[2].Line != "kitchen" || got[2].Reason != "expired" {
		t.Fatalf("expiry event %+v", got[2])
	}
	m.Flush()
	f, err := state.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Lines) != 2 || f.Lines[0].Registration != nil || f.Lines[1].Registration == nil {
		t.Fatalf("persisted %+v", f.Lines)
	}
	if f.LastSeq != 3 {
		t.Fatalf("persisted last seq %d, want 3", f.LastSeq)
	}
	m2, _, _ := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}, {ID: "hall", User: "phone2"}}, "")
	m2.Restore(f)
	if l, _ := m2.Line("hall"); !l.Registered || l.State != sipphone.StateOnHook {
		t.Fatalf("restored hall %+v", l)
	}
}

func TestPressReportedOnceAcrossMethods(t *testing.T) {
	m, _, sub := newManager(t, nil, "")
	m.Register("phone1", reg(time.Hour))
	m.PhoneCallStarted("phone1", CallInfo{ID: "c1"})
	expectTypes(t, sub, "registered", "off_hook")
	t0 := time.Now()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	presses := []stream.Press{
		{Digit: "5", Method: "inband", Start: t0, Duration: ms(100)},
		{Digit: "5", Method: "rfc4733", Start: t0.Add(ms(20)), Duration: ms(120)},  // same press, other method: dropped
		{Digit: "5", Method: "sip_info", Start: t0.Add(ms(30)), Duration: ms(100)}, // and a third way
		{Digit: "5", Method: "inband", Start: t0.Add(ms(400)), Duration: ms(100)},  // a second press of the same key
		{Digit: "6", Method: "rfc4733", Start: t0.Add(ms(420)), Duration: ms(100)}, // another key
		{Flash: true, Method: "sip_info", Start: t0.Add(ms(900))},
	}
	for _, p := range presses {
		m.RecordPress("phone1", "c1", p)
	}
	m.RecordPress("phone1", "other-call", stream.Press{Digit: "1", Method: "inband"}) // not this call: ignored
	got := expectTypes(t, sub, "dtmf", "dtmf", "dtmf", "flash")
	if got[0].Digit != "5" || got[0].Method != "inband" || got[1].Digit != "5" || got[2].Digit != "6" || *got[0].DurationMS != 100 {
		t.Fatalf("events %+v", got)
	}
	if sub.Len() != 0 {
		t.Fatalf("%d extra events", sub.Len())
	}
	if l, _ := m.Line("phone1"); l.LastDTMF != "6" {
		t.Fatalf("last_dtmf %q", l.LastDTMF)
	}
}
