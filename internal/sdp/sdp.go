// Package sdp reads and writes the small subset of SDP (RFC 4566) that a
// G.711 telephone call needs: one audio stream over RTP/AVP, its codecs,
// RFC 4733 telephone-event, ptime and direction, and the offer/answer rules
// of RFC 3264 for choosing among them.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Static payload types of the codecs we speak (RFC 3551).
const (
	PCMU uint8 = 0
	PCMA uint8 = 8
)

// Codec is one payload format of an audio m-line.
type Codec struct {
	PT        uint8
	Name      string // upper case encoding name, e.g. "PCMU", "TELEPHONE-EVENT"
	ClockRate int
	Fmtp      string
}

// Session is the audio part of a session description.
type Session struct {
	Origin    string // o= username, default "-"
	SessionID uint64
	Version   uint64
	Addr      netip.Addr // connection address (media level wins over session level)
	Port      int        // audio port; 0 means the stream is rejected
	Proto     string     // e.g. "RTP/AVP"
	Codecs    []Codec    // in m-line order (preference order)
	PTime     int        // ms, 0 when absent
	Direction string     // sendrecv, sendonly, recvonly, inactive ("" = sendrecv)
}

// Limits protect the parser from hostile bodies.
const (
	maxBody   = 16 << 10
	maxCodecs = 64
)

// Errors callers branch on.
var (
	// ErrNoAudio: the description has no usable audio stream.
	ErrNoAudio = errors.New("sdp: no audio stream")
)

// Parse reads an SDP body. It is lenient about lines it does not need and
// strict about the ones it does (connection address, audio m-line).
func Parse(body []byte) (*Session, error) {
	if len(body) > maxBody {
		return nil, fmt.Errorf("sdp: body of %d bytes is too large", len(body))
	}
	s := &Session{}
	var sessionAddr, mediaAddr netip.Addr
	inAudio, seenAudio := false, false
	rtpmaps := map[uint8]Codec{}
	fmtps := map[uint8]string{}
	var pts []uint8
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		k, v := line[0], line[2:]
		switch k {
		case 'o':
			f := strings.Fields(v)
			if len(f) >= 3 {
				s.Origin = f[0]
				s.SessionID, _ = strconv.ParseUint(f[1], 10, 64)
				s.Version, _ = strconv.ParseUint(f[2], 10, 64)
			}
		case 'c':
			a, err := parseConnection(v)
			if err != nil {
				return nil, err
			}
			if inAudio {
				mediaAddr = a
			} else if !seenAudio {
				sessionAddr = a
			}
		case 'm':
			f := strings.Fields(v)
			if inAudio {
				inAudio = false // a second m-line ends the audio section
				continue
			}
			if seenAudio || len(f) < 4 || f[0] != "audio" {
				continue
			}
			port, err := strconv.Atoi(f[1])
			if err != nil || port < 0 || port > 65535 {
				return nil, fmt.Errorf("sdp: bad audio port %q", f[1])
			}
			s.Port, s.Proto = port, f[2]
			for _, p := range f[3:] {
				if len(pts) >= maxCodecs {
					break
				}
				n, err := strconv.Atoi(p)
				if err != nil || n < 0 || n > 127 {
					return nil, fmt.Errorf("sdp: bad payload type %q", p)
				}
				pts = append(pts, uint8(n))
			}
			inAudio, seenAudio = true, true
		case 'a':
			if !inAudio && seenAudio {
				continue
			}
			name, val, _ := strings.Cut(v, ":")
			switch name {
			case "rtpmap":
				pt, rest, ok := cutPT(val)
				if !ok {
					continue
				}
				enc := strings.Split(rest, "/")
				c := Codec{PT: pt, Name: strings.ToUpper(enc[0])}
				if len(enc) > 1 {
					c.ClockRate, _ = strconv.Atoi(enc[1])
				}
				rtpmaps[pt] = c
			case "fmtp":
				if pt, rest, ok := cutPT(val); ok {
					fmtps[pt] = rest
				}
			case "ptime":
				s.PTime, _ = strconv.Atoi(strings.TrimSpace(val))
			case "sendrecv", "sendonly", "recvonly", "inactive":
				s.Direction = name
			}
		}
	}
	if !seenAudio {
		return nil, ErrNoAudio
	}
	s.Addr = mediaAddr
	if !s.Addr.IsValid() {
		s.Addr = sessionAddr
	}
	if !s.Addr.IsValid() && s.Port != 0 {
		return nil, errors.New("sdp: audio stream has no connection address (c=)")
	}
	for _, pt := range pts {
		c, ok := rtpmaps[pt]
		if !ok {
			c = staticCodec(pt)
		}
		c.PT = pt
		c.Fmtp = fmtps[pt]
		s.Codecs = append(s.Codecs, c)
	}
	return s, nil
}

func cutPT(v string) (uint8, string, bool) {
	p, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 127 {
		return 0, "", false
	}
	return uint8(n), strings.TrimSpace(rest), true
}

func parseConnection(v string) (netip.Addr, error) {
	f := strings.Fields(v)
	if len(f) < 3 || f[0] != "IN" {
		return netip.Addr{}, fmt.Errorf("sdp: bad connection line %q", v)
	}
	host, _, _ := strings.Cut(f[2], "/") // drop multicast TTL
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("sdp: connection address %q is not an IP address", f[2])
	}
	return a, nil
}

func staticCodec(pt uint8) Codec {
	switch pt {
	case PCMU:
		return Codec{Name: "PCMU", ClockRate: 8000}
	case PCMA:
		return Codec{Name: "PCMA", ClockRate: 8000}
	}
	return Codec{ClockRate: 8000}
}

// Negotiated is the result of matching an offer against what we support.
type Negotiated struct {
	Codec   Codec // PCMU or PCMA
	EventPT int   // telephone-event payload type, -1 when not offered
	PTime   int   // ms, 20 when the offer had none
	Remote  netip.AddrPort
}

// ErrNoCodec: no offered codec is one we support (answer 488).
var ErrNoCodec = errors.New("sdp: no common codec (PCMU or PCMA required)")

// Negotiate picks the codec for our answer: among the offered PCMU and PCMA,
// the one named by prefer when offered, else the first offered. It also
// takes the offered telephone-event payload type at 8000 Hz, whatever its
// number (RFC 4733 section 7.1).
func Negotiate(offer *Session, prefer string) (Negotiated, error) {
	n := Negotiated{EventPT: -1, PTime: offer.PTime}
	if n.PTime < 10 || n.PTime > 60 {
		n.PTime = 20
	}
	var g711 []Codec
	for _, c := range offer.Codecs {
		switch {
		case (c.Name == "PCMU" || c.Name == "PCMA") && c.ClockRate == 8000:
			g711 = append(g711, c)
		case c.Name == "TELEPHONE-EVENT" && c.ClockRate == 8000 && n.EventPT < 0:
			n.EventPT = int(c.PT)
		}
	}
	if len(g711) == 0 {
		return n, ErrNoCodec
	}
	n.Codec = g711[0]
	for _, c := range g711 {
		if strings.EqualFold(c.Name, prefer) {
			n.Codec = c
			break
		}
	}
	n.Remote = netip.AddrPortFrom(offer.Addr, uint16(offer.Port))
	return n, nil
}

// Description is what we write: our address and port, our codecs in
// preference order, the telephone-event payload type (or -1) and ptime.
type Description struct {
	SessionID uint64
	Version   uint64
	Addr      netip.Addr
	Port      int
	Codecs    []Codec
	EventPT   int
	PTime     int
	Direction string // default sendrecv
}

// Marshal writes the description as an SDP body with CRLF line ends.
func (d Description) Marshal() []byte {
	ipver := "IP4"
	if d.Addr.Is6() && !d.Addr.Is4In6() {
		ipver = "IP6"
	}
	addr := d.Addr.Unmap().String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=sipphone %d %d IN %s %s\r\ns=sipphone\r\nc=IN %s %s\r\nt=0 0\r\n",
		d.SessionID, d.Version, ipver, addr, ipver, addr)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", d.Port)
	for _, c := range d.Codecs {
		fmt.Fprintf(&b, " %d", c.PT)
	}
	if d.EventPT >= 0 {
		fmt.Fprintf(&b, " %d", d.EventPT)
	}
	b.WriteString("\r\n")
	for _, c := range d.Codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PT, c.Name, c.ClockRate)
	}
	if d.EventPT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", d.EventPT, d.EventPT)
	}
	if d.PTime > 0 {
		fmt.Fprintf(&b, "a=ptime:%d\r\n", d.PTime)
	}
	dir := d.Direction
	if dir == "" {
		dir = "sendrecv"
	}
	b.WriteString("a=" + dir + "\r\n")
	return []byte(b.String())
}

// OurCodecs returns PCMU and PCMA in the order of preference prefer names.
func OurCodecs(prefer string) []Codec {
	u := Codec{PT: PCMU, Name: "PCMU", ClockRate: 8000}
	a := Codec{PT: PCMA, Name: "PCMA", ClockRate: 8000}
	if strings.EqualFold(prefer, "PCMA") {
		return []Codec{a, u}
	}
	return []Codec{u, a}
}
