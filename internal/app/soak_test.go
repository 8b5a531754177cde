package app

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

// soakSize returns the number of cycles and key presses: a short run by
// default (CI), SIPPHONE_SOAK=long for the full 1,000 cycles and 10,000
// keys, or SIPPHONE_SOAK_CYCLES / SIPPHONE_SOAK_KEYS.
func soakSize() (cycles, keys int) {
	cycles, keys = 100, 1000
	if os.Getenv("SIPPHONE_SOAK") == "long" {
		cycles, keys = 1000, 10000
	}
	if n, err := strconv.Atoi(os.Getenv("SIPPHONE_SOAK_CYCLES")); err == nil {
		cycles = n
	}
	if n, err := strconv.Atoi(os.Getenv("SIPPHONE_SOAK_KEYS")); err == nil {
		keys = n
	}
	return
}

// TestSoak rings, answers, talks and hangs up again and again through the
// simulated adapter, and sends key presses by SIP INFO and RFC 2833; no
// event may be lost or duplicated, and goroutines and memory must come
// back to where they were.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test skipped in -short mode")
	}
	cycles, keys := soakSize()
	s := startServer(t, "", "")
	ev := s.events("?types=ring_start,ring_stop,off_hook,on_hook,dtmf")
	ph := startSim(t, s.sipAddr(),
		sim.LineConfig{User: "phone1", DTMF: "info", DigitDuration: 40 * time.Millisecond, DigitGap: time.Millisecond},
		sim.LineConfig{User: "phone2", DTMF: "rfc2833", DigitDuration: 40 * time.Millisecond, DigitGap: 40 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	// One warm-up cycle, then the baseline.
	cycle := func(i int) {
		var rr struct {
			RingID string `json:"ring_id"`
		}
		if code := s.do("POST", "/ring?line=phone1", "", &rr); code != 202 {
			t.Fatalf("cycle %d: POST /ring = %d", i, code)
		}
		got := ev.expect(sipphone.EventRingStart, sipphone.EventRingStop, sipphone.EventOffHook)
		if got[0].RingID != rr.RingID || got[1].RingID != rr.RingID || got[1].Reason != "answered" || !got[2].Answered {
			t.Fatalf("cycle %d: %+v", i, got)
		}
		ph.PlayTone(0, 440, -10) // talk: audio both ways for a moment
		waitSim(t, ph, sim.EventAnswered)
		s.waitFor("audio from the phone", func() bool {
			l := s.status().line("phone1")
			return l.Call != nil && l.Call.Media != nil && l.Call.Media.RTP.PacketsReceived >= 3
		})
		if err := ph.OnHook(ctx, 0); err != nil {
			t.Fatalf("cycle %d: on-hook: %v", i, err)
		}
		on := ev.expect(sipphone.EventOnHook)[0]
		if on.CallID != got[2].CallID || on.Reason != "bye" {
			t.Fatalf("cycle %d: on_hook %+v", i, on)
		}
	}
	cycle(-1)
	s.waitFor("ports released", func() bool { return s.Ports.InUse() == 0 })
	baseG, baseHeap := settle()

	start := time.Now()
	for i := 0; i < cycles; i++ {
		cycle(i)
	}
	t.Logf("%d ring/answer/talk/hang-up cycles in %v", cycles, time.Since(start).Round(time.Millisecond))

	// Key presses: most by SIP INFO (fast), one in twenty by RFC 2833.
	start = time.Now()
	if err := ph.OffHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := ph.OffHook(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ev.expect(sipphone.EventOffHook, sipphone.EventOffHook)
	const digits = "0123456789*#ABCD"
	infoKeys, rtpKeys := keys-keys/20, keys/20
	send := func(line, n int) {
		for sent := 0; sent < n; {
			k := min(64, n-sent)
			seq := ""
			for j := 0; j < k; j++ {
				seq += string(digits[(sent+j)%len(digits)])
			}
			if err := ph.SendDigits(ctx, line, seq); err != nil {
				t.Errorf("line %d: %v", line, err)
				return
			}
			sent += k
		}
	}
	// Read while sending, as a client should: a client that falls 256
	// events behind is disconnected by design.
	counts := map[string][]string{}
	received := make(chan struct{})
	go func() {
		defer close(received)
		for n := 0; n < keys; n++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, b, err := ev.c.Read(ctx)
			cancel()
			if err != nil {
				return
			}
			var e sipphone.Event
			json.Unmarshal(b, &e)
			if e.Type == sipphone.EventDTMF {
				counts[e.Line] = append(counts[e.Line], e.Digit)
			} else {
				n--
			}
		}
	}()
	done := make(chan struct{})
	go func() { send(1, rtpKeys); close(done) }()
	send(0, infoKeys)
	<-done
	<-received
	for line, n := range map[string]int{"phone1": infoKeys, "phone2": rtpKeys} {
		got := counts[line]
		if len(got) != n {
			t.Fatalf("%s: %d key events, want %d", line, len(got), n)
		}
		for j, d := range got {
			if d != string(digits[j%len(digits)]) {
				t.Fatalf("%s: key %d is %q, want %q (lost, duplicated or reordered)", line, j, d, digits[j%len(digits)])
			}
		}
	}
	t.Logf("%d key presses (%d SIP INFO, %d RFC 2833) in %v", keys, infoKeys, rtpKeys, time.Since(start).Round(time.Millisecond))
	ph.OnHook(ctx, 0)
	ph.OnHook(ctx, 1)
	// Nothing but the two on_hook events may follow: no duplicated key.
	for hung := 0; hung < 2; {
		switch e := ev.next(10 * time.Second); e.Type {
		case sipphone.EventOnHook:
			hung++
		case sipphone.EventDTMF:
			t.Fatalf("extra key event after all keys: %+v", e)
		}
	}
	s.waitFor("ports released", func() bool { return s.Ports.InUse() == 0 })

	g, heap := settle()
	t.Logf("goroutines %d -> %d, heap %.1f -> %.1f MiB", baseG, g, float64(baseHeap)/(1<<20), float64(heap)/(1<<20))
	if g > baseG+5 {
		t.Fatalf("goroutines grew from %d to %d", baseG, g)
	}
	if heap > baseHeap+16<<20 {
		t.Fatalf("heap grew from %d to %d bytes", baseHeap, heap)
	}
}

// settle waits for goroutines to stop changing and returns their number
// and the live heap after a GC.
func settle() (int, uint64) {
	prev := -1
	for i := 0; i < 50; i++ {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n == prev {
			break
		}
		prev = n
		time.Sleep(20 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return prev, ms.HeapAlloc
}
