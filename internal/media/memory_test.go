package media

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/rtp"
)

// callMemory starts n calls, each with one listener (8 kHz mu-law, 20 ms
// chunks, as a voice client asks), runs a second of audio through each
// so every buffer has reached its working size, and returns the heap and
// goroutine stack bytes they hold per call.
func callMemory(t testing.TB, n int) float64 {
	clock := NewClock(20 * time.Millisecond)
	defer clock.Close()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sender, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	before := heapAndStacks()
	calls := make([]*Call, n)
	listeners := make([]*Listener, n)
	for i := range calls {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Start(Config{Session: rtp.NewSession(conn, sender.LocalAddr().(*net.UDPAddr).AddrPort(), netip.Addr{}),
			Codec: "PCMU", EventPT: 101, PTime: 20 * time.Millisecond, JitterMax: 60 * time.Millisecond, InbandDTMF: true, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewListener(ListenerConfig{Format: dsp.FormatUlaw, SampleRate: 8000, FrameMS: 20})
		if err != nil {
			t.Fatal(err)
		}
		c.AddListener(l)
		calls[i], listeners[i] = c, l
	}
	defer func() {
		for _, c := range calls {
			c.Close()
		}
	}()
	pkts := benchPackets(64)
	buf := make([]byte, 1500)
	for k := range pkts {
		for _, c := range calls {
			b, _ := pkts[k].MarshalTo(buf)
			sender.WriteToUDPAddrPort(buf[:b], c.sess.LocalAddr())
		}
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, l := range listeners {
		for got := 0; got < 32; {
			select {
			case ch := <-l.C():
				l.Release(ch)
				got++
			case <-time.After(time.Until(deadline)):
				t.Fatalf("call %d: %d chunks", i, got)
			}
		}
	}
	after := heapAndStacks()
	if heapHook != nil {
		heapHook()
	}
	runtime.KeepAlive(calls)
	return float64(after-before) / float64(n)
}

var heapHook func()

func heapAndStacks() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// TestMemoryPerCall bounds what a call's media with one listener keeps
// (heap and stacks; the WebSocket side and the kernel's socket buffers
// are not counted here).
func TestMemoryPerCall(t *testing.T) {
	per := callMemory(t, 50)
	t.Logf("%.0f bytes per call with one listener", per)
	// The in-band DTMF detector with its dial-tone and harmonic filters is
	// part of it; the budget for a whole call with one listener,
	// WebSocket included, is 150 KiB.
	if per > 100<<10 {
		t.Errorf("%.0f KiB per call, want at most 100 KiB", per/1024)
	}
}

func BenchmarkMemoryPerCall(b *testing.B) {
	var per float64
	for b.Loop() {
		per = callMemory(b, 100)
	}
	b.ReportMetric(per, "B/call")
}
