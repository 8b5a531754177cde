// Package rtp is the media transport of a call: it binds the RTP port taken
// from the configured range, receives and sends RTP (RFC 3550) packets for
// one call, and releases the port when the call ends. It speaks RTP only;
// audio processing lives in internal/dsp.
package rtp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

// Ports hands out UDP sockets bound to even ports of a range (RTP uses the
// even port, RTCP the odd one above it; RFC 3550 section 11).
type Ports struct {
	host     netip.Addr
	min, max int

	// mu guards inUse.
	mu    sync.Mutex
	inUse map[int]bool
}

// ErrNoPorts: every port of the range is taken.
var ErrNoPorts = errors.New("rtp: no free port in the configured range")

// NewPorts returns an allocator binding on host (the unspecified address
// binds all interfaces) within [min, max]. min = max = 0 lets the system
// choose each port (for tests and tools, never with a firewall).
func NewPorts(host netip.Addr, min, max int) *Ports {
	return &Ports{host: host, min: min, max: max, inUse: map[int]bool{}}
}

// Open binds a socket on a free even port of the range (an odd port only
// when the range holds no even one). Close the returned conn with Release.
func (p *Ports) Open() (*net.UDPConn, error) {
	if p.min == 0 && p.max == 0 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.host, 0)))
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.inUse[c.LocalAddr().(*net.UDPAddr).Port] = true
		p.mu.Unlock()
		return c, nil
	}
	first := p.min + p.min%2
	if first > p.max {
		first = p.min
	}
	step := 2
	if first == p.max || p.max-p.min < 1 {
		step = 1
	}
	n := (p.max-first)/step + 1
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		port := first + ((start+i)%n)*step
		p.mu.Lock()
		busy := p.inUse[port]
		if !busy {
			p.inUse[port] = true
		}
		p.mu.Unlock()
		if busy {
			continue
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.host, uint16(port))))
		if err == nil {
			return c, nil
		}
		p.mu.Lock()
		delete(p.inUse, port)
		p.mu.Unlock()
	}
	return nil, fmt.Errorf("%w (%d-%d)", ErrNoPorts, p.min, p.max)
}

// Release closes conn and returns its port to the range.
func (p *Ports) Release(conn *net.UDPConn) {
	if conn == nil {
		return
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	conn.Close()
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}

// InUse returns how many ports are allocated.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}
