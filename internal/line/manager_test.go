package line

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/rtp"
	"github.com/sip-phone-api/sipphone/internal/state"
)

// fakeSIP is a sipphone.Signaller that records what the owner ordered. The
// tests play the SIP side's facts themselves.
type fakeSIP struct {
	mu      sync.Mutex
	rings   []sipphone.RingRequest
	cancels []string // Call-IDs
	hangups []string // Call-IDs
	refuse  error    // Ring fails with it when set
}

type fakeDialog string

func (d fakeDialog) CallID() string { return string(d) }

func (f *fakeSIP) Ring(r sipphone.RingRequest) (sipphone.Dialog, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	f.rings = append(f.rings, r)
	return fakeDialog(r.CallID), nil
}

func (f *fakeSIP) CancelRing(d sipphone.Dialog, _ sipphone.RingOutcome) {
	f.mu.Lock()
	f.cancels = append(f.cancels, d.CallID())
	f.mu.Unlock()
}

func (f *fakeSIP) Hangup(_ context.Context, d sipphone.Dialog) {
	f.mu.Lock()
	f.hangups = append(f.hangups, d.CallID())
	f.mu.Unlock()
}

func (f *fakeSIP) lastRing(t *testing.T) sipphone.RingRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rings) == 0 {
		t.Fatal("no ring was ordered")
	}
	return f.rings[len(f.rings)-1]
}

func (f *fakeSIP) hangupsWait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		h := append([]string(nil), f.hangups...)
		f.mu.Unlock()
		if len(h) >= n || time.Now().After(deadline) {
			return h
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type fixture struct {
	*Manager
	sip   *fakeSIP
	sub   *events.Subscription
	ports *rtp.Ports
}

func newManager(t *testing.T, lines []LineConfig, statePath string) *fixture {
	t.Helper()
	bus := events.New(256, 0)
	ports := rtp.NewPorts(netip.MustParseAddr("127.0.0.1"), 0, 0) // port 0: the OS picks
	m, err := New(Config{Lines: lines, AutoDial: "100", Bus: bus, StatePath: statePath,
		RingPatterns: map[string]string{"ring3": "<http://127.0.0.1>;info=ring3"},
		Media:        MediaConfig{Ports: ports}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{Manager: m, sip: &fakeSIP{}, ports: ports}
	m.SetSignaller(f.sip)
	m.Start()
	t.Cleanup(m.Close)
	f.sub, _ = bus.Subscribe(events.Filter{}, 256, nil)
	return f
}

func reg(d time.Duration) sipphone.Registration {
	return sipphone.Registration{Contact: "sip:p@127.0.0.1:5060", Source: "127.0.0.1:5060", Transport: "udp", Expires: time.Now().Add(d)}
}

// phoneRTP is the phone's RTP address for media params: a socket of the
// test's own on loopback.
func phoneRTP(t *testing.T) sipphone.MediaParams {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return sipphone.MediaParams{Codec: "PCMU", PT: 0, EventPT: 101, PTime: 20 * time.Millisecond,
		Remote: c.LocalAddr().(*net.UDPAddr).AddrPort(), Peer: netip.MustParseAddr("127.0.0.1")}
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
			got = append(got, *e)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	return got
}

func TestDynamicLinesAndFirstLine(t *testing.T) {
	m := newManager(t, nil, "")
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
	expectTypes(t, m.sub, "registered", "registered")
	if r, ok := m.Binding("phone2"); !ok || r.Contact != reg(0).Contact {
		t.Fatalf("binding %+v %v", r, ok)
	}
	if !m.RegisteredFrom("127.0.0.1:5060") || m.RegisteredFrom("127.0.0.1:5061") {
		t.Fatal("RegisteredFrom wrong")
	}
}

func TestConfiguredLinesRefuseOthers(t *testing.T) {
	m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	if _, err := m.Register("intruder", reg(time.Hour)); !errors.Is(err, sipphone.ErrLineNotFound) {
		t.Fatalf("register unknown user = %v", err)
	}
	if m.IsLine("intruder") || !m.IsLine("phone1") {
		t.Fatal("IsLine wrong")
	}
}

func TestPhoneCallLifecycle(t *testing.T) {
	m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	call := func(id, dialed string) sipphone.IncomingCall {
		return sipphone.IncomingCall{User: "phone1", CallID: id, Dialed: dialed, Dialog: fakeDialog(id)}
	}
	if _, _, err := m.IncomingCall(call("c0", "100")); !errors.Is(err, sipphone.ErrNotRegistered) {
		t.Fatalf("accept before register = %v", err)
	}
	if _, _, err := m.IncomingCall(sipphone.IncomingCall{User: "stranger", CallID: "x"}); !errors.Is(err, sipphone.ErrLineNotFound) {
		t.Fatalf("accept a stranger = %v", err)
	}
	m.Register("phone1", reg(time.Hour))
	id, port, err := m.IncomingCall(call("c1", "100"))
	if err != nil || id != "kitchen" || port == 0 {
		t.Fatalf("accept = %q %d %v", id, port, err)
	}
	if d, ok := m.Dialog("c1"); !ok || d.CallID() != "c1" {
		t.Fatalf("dialog of c1 = %v %v", d, ok)
	}
	if err := m.CallAnswered("c1", phoneRTP(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.IncomingCall(call("c9", "100")); !errors.Is(err, sipphone.ErrLineBusy) {
		t.Fatalf("second call = %v, want busy", err)
	}
	if l, _ := m.Line("kitchen"); l.State != sipphone.StateOffHook || l.Call == nil || l.Call.Media == nil || l.Call.Codec != "PCMU" {
		t.Fatalf("off-hook line %+v", l)
	}
	m.CallEnded("c1", "bye")
	m.IncomingCall(call("c2", "5551234"))
	m.CallAnswered("c2", phoneRTP(t))
	m.CallEnded("c2", "bye")
	m.CallEnded("c2", "bye") // duplicate BYE: no second event
	// A call the phone gave up on before we answered leaves no trace.
	m.IncomingCall(call("c3", "100"))
	m.CallEnded("c3", "cancel")
	got := expectTypes(t, m.sub, "registered", "off_hook", "on_hook", "off_hook", "dialed", "on_hook")
	if got[4].Number != "5551234" || got[1].CallID != "c1" {
		t.Fatalf("events %+v", got)
	}
	if m.sub.Len() != 0 {
		t.Fatalf("%d unexpected events left", m.sub.Len())
	}
	if n := m.ports.InUse(); n != 0 {
		t.Fatalf("%d RTP ports still reserved", n)
	}
	if _, ok := m.Dialog("c1"); ok {
		t.Fatal("an ended call is still in the registry")
	}
}

func TestAutoDialTargets(t *testing.T) {
	m := newManager(t, nil, "")
	cases := map[string]bool{"100": true, "": true, "*47192.168.1.10*5060": true, "5551234": false, "1000": false}
	for user, want := range cases {
		if got := m.isAutoDial(user); got != want {
			t.Errorf("isAutoDial(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestRingHangupStates(t *testing.T) {
	m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	if _, _, err := m.Ring("", sipphone.RingOptions{}); !errors.Is(err, sipphone.ErrNotRegistered) {
		t.Fatalf("ring an unregistered line = %v, want ErrNotRegistered", err)
	}
	m.Register("phone1", reg(time.Hour))
	ringID, line, err := m.Ring("", sipphone.RingOptions{Pattern: "ring3", CallerID: sipphone.CallerID{Number: "42"}})
	rq := m.sip.lastRing(t)
	if err != nil || line != "kitchen" || rq.AlertInfo != "<http://127.0.0.1>;info=ring3" || rq.Timeout != 30*time.Second || rq.RTPPort == 0 || rq.RingID != ringID {
		t.Fatalf("ring = %q %q %v %+v", ringID, line, err, rq)
	}
	if _, _, err := m.Ring("kitchen", sipphone.RingOptions{}); !errors.Is(err, sipphone.ErrLineBusy) {
		t.Fatalf("second ring = %v", err)
	}
	if l, _ := m.Line("kitchen"); l.State != sipphone.StateRinging || l.Ring == nil || l.Ring.ID != ringID {
		t.Fatalf("ringing line %+v", l)
	}
	m.RingSent(rq.CallID)
	m.RingProgress(rq.CallID)
	m.RingProgress(rq.CallID) // a repeated 180: one event
	m.CallAnswered(rq.CallID, phoneRTP(t))
	m.CallAnswered(rq.CallID, phoneRTP(t)) // duplicate: ignored
	if _, err := m.Hangup("kitchen"); err != nil {
		t.Fatal(err)
	}
	if l, _ := m.Line("kitchen"); l.State != sipphone.StateUnknown || l.OffHook != nil {
		t.Fatalf("after hangup: %+v", l)
	}
	if h := m.sip.hangupsWait(t, 1); len(h) != 1 || h[0] != rq.CallID {
		t.Fatalf("hangups %v", h)
	}
	// The phone's next call clears the unknown state.
	m.IncomingCall(sipphone.IncomingCall{User: "phone1", CallID: "c2", Dialed: "100", Dialog: fakeDialog("c2")})
	m.CallAnswered("c2", phoneRTP(t))
	got := expectTypes(t, m.sub, "registered", "ring_start", "ring_progress", "ring_stop", "off_hook", "hangup", "off_hook")
	if got[1].Pattern != "ring3" || got[1].CallerID == nil || got[3].Reason != "answered" || !got[4].Answered || got[5].Reason != "api" {
		t.Fatalf("events %+v", got)
	}
}

func TestRingEndsAndFails(t *testing.T) {
	m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	m.Register("phone1", reg(time.Hour))
	m.Ring("kitchen", sipphone.RingOptions{})
	rq := m.sip.lastRing(t)
	if _, err := m.StopRing("kitchen"); err != nil {
		t.Fatal(err)
	}
	if len(m.sip.cancels) != 1 || m.sip.cancels[0] != rq.CallID {
		t.Fatalf("cancels %v", m.sip.cancels)
	}
	m.RingEnded(rq.CallID, sipphone.RingStopped, "cancelled (487 Request Terminated)")
	if _, err := m.StopRing("kitchen"); !errors.Is(err, sipphone.ErrNotRinging) {
		t.Fatalf("stop again = %v", err)
	}
	got := expectTypes(t, m.sub, "registered", "ring_stop")
	if got[1].Reason != "stopped" || got[1].Detail == "" {
		t.Fatalf("ring_stop %+v", got[1])
	}
	// The SIP side cannot build the INVITE: the ring fails at once.
	m.sip.refuse = errors.New("registered contact is not a SIP URI")
	if _, _, err := m.Ring("kitchen", sipphone.RingOptions{}); err == nil {
		t.Fatal("ring with a refused INVITE succeeded")
	}
	if l, _ := m.Line("kitchen"); l.State != sipphone.StateOnHook {
		t.Fatalf("line after refused ring %+v", l)
	}
	if n := m.ports.InUse(); n != 0 {
		t.Fatalf("%d RTP ports still reserved", n)
	}
}

func TestRingFailsWhenNoRTPPort(t *testing.T) {
	m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
	m.Register("phone1", reg(time.Hour))
	// A range of one port that another socket holds.
	hold, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	p := hold.LocalAddr().(*net.UDPAddr).Port
	m.cfg.Media.Ports = rtp.NewPorts(netip.MustParseAddr("127.0.0.1"), p, p)
	if _, _, err := m.Ring("kitchen", sipphone.RingOptions{}); !errors.Is(err, sipphone.ErrNoResources) {
		t.Fatalf("ring with no free port = %v, want ErrNoResources", err)
	}
	if len(m.sip.rings) != 0 {
		t.Fatal("an INVITE was ordered without an RTP port")
	}
}

func TestExpiryAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}, {ID: "hall", User: "phone2"}}, path)
	m.Register("phone1", reg(50*time.Millisecond))
	m.Register("phone2", reg(time.Hour))
	got := expectTypes(t, m.sub, "registered", "registered", "unregistered")
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
	m2 := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}, {ID: "hall", User: "phone2"}}, "")
	m2.Restore(f)
	if l, _ := m2.Line("hall"); !l.Registered || l.State != sipphone.StateOnHook {
		t.Fatalf("restored hall %+v", l)
	}
}

func TestPressReportedOnceAcrossMethods(t *testing.T) {
	m := newManager(t, nil, "")
	m.Register("phone1", reg(time.Hour))
	m.IncomingCall(sipphone.IncomingCall{User: "phone1", CallID: "c1", Dialed: "100", Dialog: fakeDialog("c1")})
	m.CallAnswered("c1", phoneRTP(t))
	expectTypes(t, m.sub, "registered", "off_hook")
	t0 := time.Now()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	presses := []sipphone.KeyPress{
		{Digit: "5", Method: "inband", Start: t0, Duration: ms(100)},
		{Digit: "5", Method: "rfc4733", Start: t0.Add(ms(20)), Duration: ms(120)},  // same press, other method: dropped
		{Digit: "5", Method: "sip_info", Start: t0.Add(ms(30)), Duration: ms(100)}, // and a third way
		{Digit: "5", Method: "inband", Start: t0.Add(ms(400)), Duration: ms(100)},  // a second press of the same key
		{Digit: "6", Method: "rfc4733", Start: t0.Add(ms(420)), Duration: ms(100)}, // another key
		{Flash: true, Method: "sip_info", Start: t0.Add(ms(900))},
	}
	for _, p := range presses {
		m.KeyPressed("c1", p)
	}
	m.KeyPressed("other-call", sipphone.KeyPress{Digit: "1", Method: "inband"}) // not a call: ignored
	got := expectTypes(t, m.sub, "dtmf", "dtmf", "dtmf", "flash")
	if got[0].Digit != "5" || got[0].Method != "inband" || got[1].Digit != "5" || got[2].Digit != "6" || *got[0].DurationMS != 100 {
		t.Fatalf("events %+v", got)
	}
	if m.sub.Len() != 0 {
		t.Fatalf("%d extra events", m.sub.Len())
	}
	if l, _ := m.Line("phone1"); l.LastDTMF != "6" {
		t.Fatalf("last_dtmf %q", l.LastDTMF)
	}
}

// TestShutdownAtEveryStep shuts the owner down with a call at each step of
// its life, and checks that every call ends exactly once, rings are
// cancelled, BYE is ordered for calls that were up, nothing is left
// reserved and no goroutine is left behind.
func TestShutdownAtEveryStep(t *testing.T) {
	defer goleak.VerifyNone(t)
	steps := []string{"ring ordered", "ring progressing", "ring answered", "phone calling", "phone call up", "streaming"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			m := newManager(t, []LineConfig{{ID: "kitchen", User: "phone1"}}, "")
			m.Register("phone1", reg(time.Hour))
			callID := "c1"
			switch step {
			case "ring ordered", "ring progressing", "ring answered":
				m.Ring("kitchen", sipphone.RingOptions{})
				callID = m.sip.lastRing(t).CallID
				m.RingSent(callID)
				if step != "ring ordered" {
					m.RingProgress(callID)
				}
				if step == "ring answered" {
					m.CallAnswered(callID, phoneRTP(t))
				}
			default:
				m.IncomingCall(sipphone.IncomingCall{User: "phone1", CallID: callID, Dialed: "100", Dialog: fakeDialog(callID)})
				if step != "phone calling" {
					m.CallAnswered(callID, phoneRTP(t))
				}
				if step == "streaming" {
					if _, err := m.StartStream("kitchen", StreamOptions{Direction: "both", SampleRate: 8000, FrameMS: 20}); err != nil {
						t.Fatal(err)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ringing := step == "ring ordered" || step == "ring progressing"
			if ringing {
				// The SIP side answers the CANCEL the owner orders.
				go func() {
					for len(m.sip.cancelsNow()) == 0 {
						time.Sleep(time.Millisecond)
					}
					m.RingEnded(callID, sipphone.RingStopped, "cancelled")
				}()
			}
			m.Shutdown(ctx)
			if ctx.Err() != nil {
				t.Fatal("shutdown waited for its deadline")
			}
			l, _ := m.Line("kitchen")
			switch {
			case ringing && (l.State != sipphone.StateOnHook || len(m.sip.cancelsNow()) != 1):
				t.Fatalf("ring not stopped: %+v cancels %v", l, m.sip.cancelsNow())
			case (step == "ring answered" || step == "phone call up" || step == "streaming") &&
				(l.State != sipphone.StateUnknown || len(m.sip.hangupsWait(t, 1)) != 1):
				t.Fatalf("call not hung up: %+v", l)
			case step == "phone calling" && l.State != sipphone.StateOnHook:
				t.Fatalf("unanswered call left the line %s", l.State)
			}
			if l.Call != nil || l.Ring != nil || l.AudioStreaming {
				t.Fatalf("line still busy after shutdown: %+v", l)
			}
			if _, _, err := m.Ring("kitchen", sipphone.RingOptions{}); !errors.Is(err, sipphone.ErrShuttingDown) {
				t.Fatalf("ring during shutdown = %v", err)
			}
			if n := m.ports.InUse(); n != 0 {
				t.Fatalf("%d RTP ports still reserved", n)
			}
			m.Close()
		})
	}
}

func (f *fakeSIP) cancelsNow() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cancels...)
}
