package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

// TestCallLifeInALoop rings, answers, streams and hangs up in a loop with a
// ring stopped at every step of its life, then shuts a server down at every
// step of a call's life. Run under -race, with the package's goleak check,
// it proves that one owner per call leaves no race, no goroutine, no RTP
// port and no stuck line behind.
func TestCallLifeInALoop(t *testing.T) {
	s := startServer(t, "", "")
	ph := startSim(t, s.sipAddr(), sim.LineConfig{User: "phone1", Answer: sim.AnswerNever})
	ev := s.events("?types=ring_start,ring_progress,ring_stop,off_hook,on_hook,hangup,audio_start,audio_stop")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.waitFor("phone1 registered", func() bool { l := s.status().line("phone1"); return l != nil && l.Registered })

	for i := range 3 {
		// Stopped right after the request: the INVITE may not have left.
		s.ring(`{"line":"phone1"}`)
		s.mustDo(http.MethodDelete, "/ring?line=phone1", http.StatusAccepted)
		stop := ev.expectUntil(sipphone.EventRingStop)
		if stop.Reason != string(sipphone.RingStopped) {
			t.Fatalf("loop %d: early stop %+v", i, stop)
		}
		waitIdle(t, s)

		// Stopped while the phone rings (after 180).
		drainSim(ph)
		s.ring(`{"line":"phone1"}`)
		ev.expectUntil(sipphone.EventRingProgress)
		waitSim(t, ph, sim.EventRinging)
		s.mustDo(http.MethodPost, "/lines/phone1/hangup", http.StatusAccepted)
		if stop := ev.expectUntil(sipphone.EventRingStop); stop.Reason != string(sipphone.RingStopped) || stop.Detail == "" {
			t.Fatalf("loop %d: stop while ringing %+v", i, stop)
		}
		waitSim(t, ph, sim.EventCancelled)
		waitIdle(t, s)

		// Answered, streamed, hung up by the API.
		drainSim(ph)
		s.ring(`{"line":"phone1"}`)
		ev.expectUntil(sipphone.EventRingProgress)
		waitSim(t, ph, sim.EventRinging)
		if err := ph.Answer(ctx, 0); err != nil {
			t.Fatal(err)
		}
		ev.expectUntil(sipphone.EventOffHook)
		var st struct {
			StreamID string `json:"stream_id"`
		}
		if code := s.do(http.MethodPost, "/audio/start", `{"line":"phone1","direction":"both"}`, &st); code != http.StatusCreated {
			t.Fatalf("loop %d: audio start %d %s", i, code, s.lastBody)
		}
		ev.expectUntil(sipphone.EventAudioStart)
		s.mustDo(http.MethodPost, "/lines/phone1/hangup", http.StatusAccepted)
		// The call's streams stop with it, then the hangup is told.
		if e := ev.expectUntil(sipphone.EventAudioStop); e.StreamID != st.StreamID || e.Reason != "call_ended" {
			t.Fatalf("loop %d: stream end %+v", i, e)
		}
		ev.expectUntil(sipphone.EventHangup)
		waitSim(t, ph, sim.EventHangupByServer)
		// The handset is still lifted (reorder tone) until it is put down.
		if err := ph.OnHook(ctx, 0); err != nil {
			t.Fatal(err)
		}
		s.waitFor("no RTP port held", func() bool { return s.Ports.InUse() == 0 })
	}
}

// TestShutdownAtEveryStepOfACall stops a server with a call at each step of
// its life: every step ends with the call gone, the phone told (CANCEL or
// BYE) and the server stopped within its deadline.
func TestShutdownAtEveryStepOfACall(t *testing.T) {
	steps := []string{"ringing", "answered", "streaming", "phone calling"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			s := startServer(t, "", "")
			ph := startSim(t, s.sipAddr(), sim.LineConfig{User: "phone1", Answer: sim.AnswerNever})
			ev := s.events("?types=ring_progress,off_hook")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.waitFor("phone1 registered", func() bool { l := s.status().line("phone1"); return l != nil && l.Registered })
			want := sim.EventHangupByServer
			switch step {
			case "phone calling":
				if err := ph.OffHook(ctx, 0); err != nil {
					t.Fatal(err)
				}
				ev.expectUntil(sipphone.EventOffHook)
			default:
				s.ring(`{"line":"phone1"}`)
				ev.expectUntil(sipphone.EventRingProgress)
				waitSim(t, ph, sim.EventRinging)
				if step == "ringing" {
					want = sim.EventCancelled
					break
				}
				if err := ph.Answer(ctx, 0); err != nil {
					t.Fatal(err)
				}
				ev.expectUntil(sipphone.EventOffHook)
				if step == "streaming" {
					if code := s.do(http.MethodPost, "/audio/start", `{"line":"phone1"}`, nil); code != http.StatusCreated {
						t.Fatalf("audio start %d %s", code, s.lastBody)
					}
				}
			}
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			if err := s.Shutdown(sctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			waitSim(t, ph, want)
			if n := s.Ports.InUse(); n != 0 {
				t.Fatalf("%d RTP ports held after shutdown", n)
			}
		})
	}
}

// drainSim drops the simulator events already reported.
func drainSim(ph *sim.Phone) {
	for {
		select {
		case <-ph.Events():
		default:
			return
		}
	}
}

// waitIdle waits until phone1 is on hook with no call, ring or RTP port.
func waitIdle(t *testing.T, s *testServer) {
	t.Helper()
	s.waitFor("phone1 idle", func() bool {
		l := s.status().line("phone1")
		return l != nil && l.State == sipphone.StateOnHook && l.Ring == nil && l.Call == nil && s.Ports.InUse() == 0
	})
}

// mustDo sends a request and fails unless it is answered with code.
func (s *testServer) mustDo(method, path string, code int) {
	s.t.Helper()
	if got := s.do(method, path, "", nil); got != code {
		s.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, code, s.lastBody)
	}
}

// expectUntil skips events until one of type typ arrives.
func (e *eventClient) expectUntil(typ string) sipphone.Event {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ev := e.next(time.Until(deadline)); ev.Type == typ {
			return ev
		}
	}
	e.t.Fatalf("no %s event", typ)
	return sipphone.Event{}
}
