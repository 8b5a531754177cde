package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Static RTP payload types of G.711 (RFC 3551 section 6).
const (
	ptPCMU uint8 = 0
	ptPCMA uint8 = 8
)

// errNoCodec means an SDP offers no codec the adapter can use (answered 488).
var errNoCodec = errors.New("no supported codec offered")

// mediaDesc is the part of an SDP body the adapter acts on.
type mediaDesc struct {
	addr    netip.AddrPort // connection address and audio port
	formats []uint8        // payload types of the m=audio line, in order
	names   map[uint8]string
	ptime   int
	dir     string // sendrecv, sendonly, recvonly, inactive
}

// telephoneEvent returns the payload type of telephone-event/8000, if offered.
func (d *mediaDesc) telephoneEvent() (uint8, bool) {
	for _, pt := range d.formats {
		if strings.EqualFold(d.names[pt], "telephone-event/8000") {
			return pt, true
		}
	}
	return 0, false
}

// codec returns the first G.711 payload type in the order of the m= line.
func (d *mediaDesc) codec() (uint8, error) {
	for _, pt := range d.formats {
		name, ok := d.names[pt]
		switch {
		case !ok && (pt == ptPCMU || pt == ptPCMA):
			return pt, nil // static types need no rtpmap (RFC 4566 section 6)
		case strings.EqualFold(name, "PCMU/8000"):
			return pt, nil
		case strings.EqualFold(name, "PCMA/8000"):
			return pt, nil
		}
	}
	return 0, errNoCodec
}

// codecName returns "PCMU" or "PCMA" for a negotiated payload type.
func (d *mediaDesc) codecName(pt uint8) string {
	if name, ok := d.names[pt]; ok {
		n, _, _ := strings.Cut(name, "/")
		return strings.ToUpper(n)
	}
	if pt == ptPCMA {
		return "PCMA"
	}
	return "PCMU"
}

// parseSDP reads the connection address and the first audio stream of body
// (RFC 4566). Other media streams are ignored, as the adapter does.
func parseSDP(body []byte) (*mediaDesc, error) {
	d := &mediaDesc{names: map[uint8]string{}, dir: "sendrecv"}
	var sessAddr, mediaAddr netip.Addr
	var port int
	inAudio, seenAudio := false, false
	for _, raw := range strings.Split(string(body), "\n") {
		ln := strings.TrimRight(raw, "\r ")
		if len(ln) < 2 || ln[1] != '=' {
			continue
		}
		val := ln[2:]
		switch ln[0] {
		case 'm':
			if seenAudio {
				inAudio = false
				continue
			}
			f := strings.Fields(val)
			if len(f) < 4 || f[0] != "audio" {
				inAudio = false
				continue
			}
			p, err := strconv.Atoi(f[1])
			if err != nil || p < 0 || p > 65535 {
				return nil, fmt.Errorf("sdp: bad audio port %q", f[1])
			}
			port, inAudio, seenAudio = p, true, true
			for _, s := range f[3:] {
				pt, err := strconv.Atoi(s)
				if err != nil || pt < 0 || pt > 127 {
					return nil, fmt.Errorf("sdp: bad payload type %q", s)
				}
				d.formats = append(d.formats, uint8(pt))
			}
		case 'c':
			f := strings.Fields(val)
			if len(f) < 3 || f[0] != "IN" {
				return nil, fmt.Errorf("sdp: bad connection line %q", ln)
			}
			a, err := netip.ParseAddr(strings.SplitN(f[2], "/", 2)[0])
			if err != nil {
				return nil, fmt.Errorf("sdp: bad connection address: %w", err)
			}
			if inAudio {
				mediaAddr = a
			} else if !seenAudio {
				sessAddr = a
			}
		case 'a':
			if seenAudio && !inAudio {
				continue
			}
			name, arg, _ := strings.Cut(val, ":")
			switch name {
			case "rtpmap":
				ptStr, enc, ok := strings.Cut(arg, " ")
				pt, err := strconv.Atoi(ptStr)
				if ok && err == nil && pt >= 0 && pt <= 127 {
					d.names[uint8(pt)] = strings.TrimSpace(enc)
				}
			case "ptime":
				d.ptime, _ = strconv.Atoi(strings.TrimSpace(arg))
			case "sendrecv", "sendonly", "recvonly", "inactive":
				d.dir = name
			}
		}
	}
	if !seenAudio {
		return nil, errors.New("sdp: no audio stream")
	}
	addr := mediaAddr
	if !addr.IsValid() {
		addr = sessAddr
	}
	if !addr.IsValid() {
		return nil, errors.New("sdp: no connection address")
	}
	d.addr = netip.AddrPortFrom(addr.Unmap(), uint16(port))
	return d, nil
}

// sdpParams describe the adapter's side of a session.
type sdpParams struct {
	user    string     // o= user name
	sessID  uint64     // o= session id
	version uint64     // o= version, added to the session id
	addr    netip.Addr // c= address
	port    int        // m=audio port
	formats []uint8    // codecs (0, 8) in preference order
	te      uint8      // telephone-event payload type
	withTE  bool
}

// buildSDP writes an SDP body the way the HT802 does: the audio codecs, the
// telephone-event type with events 0-15, ptime 20 and sendrecv.
func buildSDP(p sdpParams) []byte {
	ipv := "IP4"
	if p.addr.Is6() && !p.addr.Is4In6() {
		ipv = "IP6"
	}
	addr := p.addr.Unmap().String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=%s %d %d IN %s %s\r\ns=SIP Call\r\nc=IN %s %s\r\nt=0 0\r\n",
		p.user, p.sessID, p.sessID+p.version, ipv, addr, ipv, addr)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", p.port)
	for _, pt := range p.formats {
		fmt.Fprintf(&b, " %d", pt)
	}
	if p.withTE {
		fmt.Fprintf(&b, " %d", p.te)
	}
	b.WriteString("\r\na=sendrecv\r\n")
	for _, pt := range p.formats {
		name := "PCMU"
		if pt == ptPCMA {
			name = "PCMA"
		}
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", pt, name)
	}
	if p.withTE {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", p.te, p.te)
	}
	b.WriteString("a=ptime:20\r\n")
	return []byte(b.String())
}
