package check

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestRTPRangeWholeRangeTested: with every port the server uses busy but
// one, the check finds the free one and says how many calls fit; it does
// not judge from a sample.
func TestRTPRangeWholeRangeTested(t *testing.T) {
	const span = 40
	var held []net.PacketConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	base := 0
	for b := 42000; b < 60000 && base == 0; b += 2 * span {
		var got []net.PacketConn
		ok := true
		for p := b; p <= b+span; p += 2 {
			if p == b+2 {
				continue // the one port left free
			}
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			got = append(got, c)
		}
		if probe, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", b+2)); err == nil {
			probe.Close()
		} else {
			ok = false
		}
		if !ok {
			for _, c := range got {
				c.Close()
			}
			continue
		}
		held, base = got, b
	}
	if base == 0 {
		t.Skip("no free block of UDP ports to test with")
	}
	path := setup{sip: 0, rest: 0, ws: 0}.write(t)
	b, _ := os.ReadFile(path)
	yaml := regexp.MustCompile(`rtp_ports: \{min: \d+, max: \d+\}`).ReplaceAllString(string(b), fmt.Sprintf("rtp_ports: {min: %d, max: %d}", base, base+span))
	os.WriteFile(path, []byte(yaml), 0o644)
	out, err := run(t, "--config", path)
	if errors.Is(err, ErrFailed) && strings.Contains(out, "rtp udp") && strings.Contains(out, "FAIL port  rtp") {
		t.Fatalf("the RTP range failed though one port is free:\n%s", out)
	}
	want := fmt.Sprintf("PASS port  rtp udp 127.0.0.1:%d-%d: 1 of 21 ports free, enough for 1 calls at once (busy: %d", base, base+span, base)
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}
