package loadtest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestRTPPayload(t *testing.T) {
	payload := []byte{1, 2, 3, 4}
	hdr := func(b0 byte, extra ...byte) []byte {
		b := append([]byte{b0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, extra...)
		return append(b, payload...)
	}
	tests := []struct {
		name string
		pkt  []byte
		want []byte
		ok   bool
	}{
		{"plain", hdr(0x80), payload, true},
		{"two CSRCs", hdr(0x82, 0, 0, 0, 9, 0, 0, 0, 8), payload, true},
		{"extension of one word", hdr(0x90, 0xBE, 0xDE, 0, 1, 1, 2, 3, 4), payload, true},
		{"padding", append(hdr(0xA0), 0, 0, 3), payload, true},
		{"version 1", hdr(0x40), nil, false},
		{"shorter than a header", []byte{0x80, 0, 0}, nil, false},
		{"extension beyond the end", hdr(0x90, 0xBE, 0xDE, 0, 9), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rtpPayload(tt.pkt)
			if ok != tt.ok || !bytes.Equal(got, tt.want) {
				t.Fatalf("rtpPayload = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPercentileIndex(t *testing.T) {
	tests := []struct {
		name string
		n    int
		p    float64
		want int
	}{
		{"one value", 1, 99, 0},
		{"median of 100", 100, 50, 49},
		{"p99 of 100", 100, 99, 98},
		{"p99 of 1000", 1000, 99, 989},
		{"p99 of 10", 10, 99, 9},
		{"p0", 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentileIndex(tt.n, tt.p); got != tt.want {
				t.Fatalf("percentileIndex(%d, %v) = %d, want %d", tt.n, tt.p, got, tt.want)
			}
		})
	}
}

func TestParseSIP(t *testing.T) {
	msg := "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx\r\ni: abc@host\r\nCSeq: 1 INVITE\r\n" +
		"t: <sip:100@127.0.0.1>;tag=xyz\r\nContact: <sip:100@127.0.0.1:5060>\r\nl: 4\r\n\r\nv=0\n"
	m, err := parseSIP([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if m.code != 200 || m.header("call-id") != "abc@host" || m.header("CSeq") != "1 INVITE" ||
		!strings.HasSuffix(m.header("to"), ";tag=xyz") || string(m.body) != "v=0\n" {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := parseSIP([]byte("SIP/2.0 abc OK\r\n\r\n")); err == nil {
		t.Fatal("a status that is not a number was accepted")
	}
	if _, err := parseSIP([]byte("INVITE sip:x SIP/2.0\r\nCall-ID: 1\r\n")); err == nil {
		t.Fatal("a message without the end of its headers was accepted")
	}
}

// TestSendPacketDoesNotAllocate: the harness's per-packet path is free of
// allocations, so 500 calls cost it little.
func TestSendPacketDoesNotAllocate(t *testing.T) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c, err := newCall(1000, Impairment{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.rtp.Close()
	c.dst = sink.LocalAddr().(*net.UDPAddr).AddrPort()
	h := &harness{base: time.Now()}
	if a := testing.AllocsPerRun(200, func() { c.sendPacket(h) }); a != 0 {
		t.Fatalf("%v allocations per packet", a)
	}
	buf := make([]byte, 1500)
	sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sink.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := rtpPayload(buf[:n])
	if k, mok := ReadMark(p); !ok || !mok || k != 0 || len(p) != frameBytes || buf[1] != 0 {
		t.Fatalf("first packet: payload %d bytes, mark %d %v, PT %d", len(p), k, mok, buf[1])
	}
}

func BenchmarkSendPacket(b *testing.B) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	c, err := newCall(1<<12, Impairment{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer c.rtp.Close()
	c.dst = sink.LocalAddr().(*net.UDPAddr).AddrPort()
	h := &harness{base: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if int(c.next) == len(c.sent) {
			c.next = 0 // the sink is not read: the kernel drops what overflows it
		}
		c.sendPacket(h)
	}
}

// TestRelayPassesPayloads runs the relay in-process: each datagram's RTP
// payload comes out as one binary frame, unchanged.
func TestRelayPassesPayloads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &firstLine{next: newTail(), C: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- serveRelay(ctx, out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveRelay: %v", err)
		}
	}()
	addr, _ := strings.CutPrefix(<-out.C, "relay ")
	c := &call{}
	if err := setupRelayCall(ctx, addr, c); err != nil {
		t.Fatal(err)
	}
	defer c.ws.CloseNow()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	for i, payload := range [][]byte{[]byte("first"), bytes.Repeat([]byte{0xC3}, frameBytes)} {
		pkt := append([]byte{0x80, 0, 0, byte(i), 0, 0, 0, 0, 0, 0, 0, 1}, payload...)
		if _, err := u.WriteToUDPAddrPort(pkt, c.dst); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.ws.Read(rctx)
		if err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, payload) {
			t.Fatalf("frame %d = %v %q %v; want binary %q", i, typ, got, err, payload)
		}
	}
}

// buildSipphone builds cmd/sipphone for the end-to-end test, or skips.
func buildSipphone(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sipphone")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sipphone")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build cmd/sipphone for the server under test: %v\n%s", err, out)
	}
	return bin
}

// TestRunEndToEnd runs the harness as "sipphone loadtest" would: two calls
// through a real server child process and through the relay child (this
// test binary in its relay role), every packet accounted for.
func TestRunEndToEnd(t *testing.T) {
	bin := buildSipphone(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	o := Options{Calls: []int{2}, Duration: 2 * time.Second, Warmup: 300 * time.Millisecond, Server: bin,
		Relay: []string{self, "loadtest", "--relay-serve"}, Targets: []string{TargetRelay, TargetServer}, Progress: testWriter{t}}
	rs, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	// 2 calls x 2 s at 50 packets per second; a busy machine delays some
	// sends across the window's edges.
	const want = 200
	for _, r := range rs {
		if r.Err != "" || r.CallsUp != 2 {
			t.Fatalf("%s: %d calls up, error %q", r.Target, r.CallsUp, r.Err)
		}
		if r.Sent < want-40 || r.Sent > want+40 {
			t.Errorf("%s: %d packets sent in the window, want about %d", r.Target, r.Sent, want)
		}
		if r.Lost != 0 || r.Delivered != r.Sent || r.Duplicates != 0 || r.Misaligned != 0 || r.Unmarked != 0 {
			t.Errorf("%s: sent %d delivered %d lost %d dup %d misaligned %d unmarked %d; want every packet once, aligned",
				r.Target, r.Sent, r.Delivered, r.Lost, r.Duplicates, r.Misaligned, r.Unmarked)
		}
		if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.P99 > 500*time.Millisecond {
			t.Errorf("%s: latency p50 %v p99 %v max %v", r.Target, r.P50, r.P99, r.Max)
		}
		if r.RSS <= 0 || r.PeakRSS < r.RSS || r.CPUPercent < 0 {
			t.Errorf("%s: RSS %d peak %d CPU %.2f%%", r.Target, r.RSS, r.PeakRSS, r.CPUPercent)
		}
	}
	var report bytes.Buffer
	WriteReport(&report, o, rs)
	for _, want := range []string{"| 2 | relay | 2 |", "| 2 | server | 2 |", "| 2 | 0 | pass |"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
	t.Logf("report:\n%s", report.String())
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestImpairedSender: the impairment drops about L of the packets, holds
// the others back by up to J, and sends each one kept once.
func TestImpairedSender(t *testing.T) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	imp := Impairment{Jitter: 40 * time.Millisecond, Loss: 0.2}
	c, err := newCall(1000, imp, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.rtp.Close()
	c.dst = sink.LocalAddr().(*net.UDPAddr).AddrPort()
	h := &harness{base: time.Now(), imp: imp}
	const n = 200 // what the sink's socket buffer holds at once
	for range n {
		c.sendPacket(h)
	}
	held := len(c.delayed)
	if held < n*7/10 || held > n*9/10 {
		t.Fatalf("%d of %d packets held back, want about 80 %%", held, n)
	}
	for _, d := range c.delayed {
		if d.due > h.now()+int64(imp.Jitter) {
			t.Fatalf("a packet held beyond the jitter: due in %v", time.Duration(d.due-h.now()))
		}
	}
	if a := testing.AllocsPerRun(1, func() { c.sendDelayed(h.now() + int64(time.Second)) }); a != 0 {
		t.Fatalf("%v allocations sending the held packets", a)
	}
	if len(c.delayed) != 0 {
		t.Fatalf("%d packets still held after their time", len(c.delayed))
	}
	seen := map[uint32]bool{}
	buf := make([]byte, 1500)
	for len(seen) < held {
		sink.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("received %d of %d: %v", len(seen), held, err)
		}
		p, _ := rtpPayload(buf[:k])
		m, ok := ReadMark(p)
		if !ok || seen[m] {
			t.Fatalf("packet mark %d %v, seen before %v", m, ok, seen[m])
		}
		seen[m] = true
	}
}
