package rtp

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestPortsAllocateWithinRangeAndRelease(t *testing.T) {
	// Find a free block of ports to use as the range.
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	base := probe.LocalAddr().(*net.UDPAddr).Port &^ 1
	probe.Close()
	p := NewPorts(netip.MustParseAddr("127.0.0.1"), base, base+3) // even ports: base, base+2
	var conns []*net.UDPConn
	for i := 0; i < 2; i++ {
		c, err := p.Open()
		if err != nil {
			t.Skipf("range %d-%d not free on this machine: %v", base, base+3, err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port < base || port > base+3 {
			t.Fatalf("port %d outside even ports of %d-%d", port, base, base+3)
		}
		conns = append(conns, c)
	}
	if _, err := p.Open(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("third Open err = %v, want ErrNoPorts", err)
	}
	if p.InUse() != 2 {
		t.Fatalf("InUse = %d, want 2", p.InUse())
	}
	p.Release(conns[0])
	c, err := p.Open()
	if err != nil {
		t.Fatalf("Open after Release: %v", err)
	}
	p.Release(c)
	p.Release(conns[1])
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d after releasing all, want 0", p.InUse())
	}
}
