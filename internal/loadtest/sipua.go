package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone/internal/sdp"
)

// sipUA is a minimal SIP user agent over one UDP socket for every simulated
// phone: REGISTER without authentication, INVITE with an SDP offer, ACK and
// BYE. It is what an HT802 port sends, stripped to what the server needs,
// so that hundreds of phones cost the harness almost nothing.
type sipUA struct {
	conn   *net.UDPConn
	server netip.AddrPort
	local  netip.AddrPort

	// mu guards waiting and acks.
	mu      sync.Mutex
	waiting map[string]chan *sipMsg // "Call-ID CSeq" -> responses
	acks    map[string][]byte       // Call-ID -> the ACK, resent when a 2xx is retransmitted

	wg sync.WaitGroup
}

// sipMsg is a parsed SIP message: what the harness needs of it.
type sipMsg struct {
	method  string // requests
	code    int    // responses
	headers map[string][]string
	body    []byte
	raw     []byte
}

func (m *sipMsg) header(name string) string {
	if v := m.headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// compactHeaders maps RFC 3261 section 7.3.3 compact forms to full names.
var compactHeaders = map[string]string{"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length", "c": "content-type"}

func parseSIP(b []byte) (*sipMsg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("sip: no end of headers")
	}
	lines := strings.Split(string(head), "\r\n")
	m := &sipMsg{headers: map[string][]string{}, body: body, raw: b}
	first := strings.Fields(lines[0])
	if len(first) < 2 {
		return nil, fmt.Errorf("sip: bad start line %q", lines[0])
	}
	if strings.HasPrefix(first[0], "SIP/") {
		code, err := strconv.Atoi(first[1])
		if err != nil {
			return nil, fmt.Errorf("sip: bad status %q", lines[0])
		}
		m.code = code
	} else {
		m.method = first[0]
	}
	for _, ln := range lines[1:] {
		k, v, ok := strings.Cut(ln, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if full, ok := compactHeaders[k]; ok {
			k = full
		}
		m.headers[k] = append(m.headers[k], strings.TrimSpace(v))
	}
	return m, nil
}

func newSIPUA(server netip.AddrPort) (*sipUA, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(server.Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("sip socket: %w", err)
	}
	c.SetReadBuffer(1 << 20)
	u := &sipUA{conn: c, server: server, local: c.LocalAddr().(*net.UDPAddr).AddrPort(),
		waiting: map[string]chan *sipMsg{}, acks: map[string][]byte{}}
	u.wg.Add(1)
	go u.read()
	return u, nil
}

// Close closes the socket and waits for the reader.
func (u *sipUA) Close() {
	u.conn.Close()
	u.wg.Wait()
}

func (u *sipUA) read() {
	defer u.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m, err := parseSIP(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if m.method != "" {
			u.answer(m, from)
			continue
		}
		callID, cseq := m.header("call-id"), m.header("cseq")
		u.mu.Lock()
		ch := u.waiting[callID+" "+cseq]
		ack := u.acks[callID]
		u.mu.Unlock()
		switch {
		case ch != nil:
			select {
			case ch <- m:
			default:
			}
		case ack != nil && m.code/100 == 2 && strings.HasSuffix(cseq, "INVITE"):
			u.conn.WriteToUDPAddrPort(ack, u.server) // our ACK was lost: the 2xx is retransmitted
		}
	}
}

// answer says 200 to a request from the server (a BYE when it shuts down,
// an OPTIONS keep-alive); an ACK needs no answer.
func (u *sipUA) answer(m *sipMsg, from netip.AddrPort) {
	if m.method == "ACK" {
		return
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, v := range m.headers["via"] {
		b.WriteString("Via: " + v + "\r\n")
	}
	to := m.header("to")
	if !strings.Contains(to, ";tag=") {
		to += ";tag=" + randHex(8)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
		m.header("from"), to, m.header("call-id"), m.header("cseq"))
	u.conn.WriteToUDPAddrPort([]byte(b.String()), from)
}

// request sends req and returns its final response, resending it over UDP
// (RFC 3261 section 17.1.1.2: from 500 ms, doubling, up to 4 s) until a
// response arrives.
func (u *sipUA) request(ctx context.Context, callID, cseq string, req []byte) (*sipMsg, error) {
	key := callID + " " + cseq
	ch := make(chan *sipMsg, 8)
	u.mu.Lock()
	u.waiting[key] = ch
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.waiting, key)
		u.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, 16*time.Second)
	defer cancel()
	interval := 500 * time.Millisecond
	t := time.NewTimer(interval)
	defer t.Stop()
	if _, err := u.conn.WriteToUDPAddrPort(req, u.server); err != nil {
		return nil, fmt.Errorf("send %s: %w", cseq, err)
	}
	retransmit := true
	for {
		select {
		case m := <-ch:
			if m.code >= 200 {
				return m, nil
			}
			retransmit = false // provisional: the server has it
		case <-t.C:
			if retransmit {
				u.conn.WriteToUDPAddrPort(req, u.server)
				interval = min(2*interval, 4*time.Second)
			}
			t.Reset(interval)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no final response: %w", cseq, ctx.Err())
		}
	}
}

// sipCall is one phone's call set up by the agent.
type sipCall struct {
	user, callID, fromTag, toTag, target string
	remoteRTP                            netip.AddrPort
	cseq                                 int
}

func (u *sipUA) via() string {
	return fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", u.local, randHex(12))
}

// register registers user with the server's registrar.
func (u *sipUA) register(ctx context.Context, user string) error {
	callID := randHex(16) + "@loadtest"
	req := fmt.Sprintf("REGISTER sip:%s SIP/2.0\r\n%sMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@%s>\r\nExpires: 3600\r\nUser-Agent: sipphone-loadtest\r\nContent-Length: 0\r\n\r\n",
		u.server, u.via(), user, u.server.Addr(), randHex(8), user, u.server.Addr(), callID, user, u.local)
	res, err := u.request(ctx, callID, "1 REGISTER", []byte(req))
	if err != nil {
		return fmt.Errorf("REGISTER %s: %w", user, err)
	}
	if res.code != 200 {
		return fmt.Errorf("REGISTER %s: answered %d", user, res.code)
	}
	return nil
}

// invite lifts user's handset: an INVITE to number offering PCMU and
// telephone-event with RTP on rtpPort, then the ACK of the answer.
func (u *sipUA) invite(ctx context.Context, user, number string, rtpPort int) (*sipCall, error) {
	c := &sipCall{user: user, callID: randHex(16) + "@loadtest", fromTag: randHex(8), cseq: 1}
	offer := sdp.Description{SessionID: rand.Uint64() >> 1, Version: 1, Addr: u.local.Addr(), Port: rtpPort,
		Codecs: []sdp.Codec{{PT: sdp.PCMU, Name: "PCMU", ClockRate: 8000}}, EventPT: 101, PTime: 20}.Marshal()
	req := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\n%sMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 INVITE\r\nContact: <sip:%s@%s>\r\nUser-Agent: sipphone-loadtest\r\n"+
		"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		number, u.server, u.via(), user, u.server.Addr(), c.fromTag, number, u.server.Addr(),
		c.callID, user, u.local, len(offer), offer)
	res, err := u.request(ctx, c.callID, "1 INVITE", []byte(req))
	if err != nil {
		return nil, fmt.Errorf("INVITE from %s: %w", user, err)
	}
	if res.code != 200 {
		return nil, fmt.Errorf("INVITE from %s: answered %d", user, res.code)
	}
	to := res.header("to")
	_, tag, _ := strings.Cut(to, ";tag=")
	c.toTag, _, _ = strings.Cut(tag, ";")
	c.target = "sip:" + number + "@" + u.server.String()
	if ct := res.header("contact"); ct != "" {
		if i, j := strings.IndexByte(ct, '<'), strings.IndexByte(ct, '>'); i >= 0 && j > i {
			c.target = ct[i+1 : j]
		}
	}
	ans, err := sdp.Parse(res.body)
	if err != nil {
		return nil, fmt.Errorf("INVITE from %s: answer: %w", user, err)
	}
	c.remoteRTP = netip.AddrPortFrom(ans.Addr, uint16(ans.Port))
	if ans.Addr.IsUnspecified() {
		c.remoteRTP = netip.AddrPortFrom(u.server.Addr(), uint16(ans.Port))
	}
	ack := []byte(fmt.Sprintf("ACK %s SIP/2.0\r\n%sMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>;tag=%s\r\n"+
		"Call-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		c.target, u.via(), user, u.server.Addr(), c.fromTag, number, u.server.Addr(), c.toTag, c.callID))
	u.mu.Lock()
	u.acks[c.callID] = ack
	u.mu.Unlock()
	if _, err := u.conn.WriteToUDPAddrPort(ack, u.server); err != nil {
		return nil, fmt.Errorf("ACK from %s: %w", user, err)
	}
	return c, nil
}

// bye hangs up c.
func (u *sipUA) bye(ctx context.Context, c *sipCall, number string) error {
	c.cseq++
	cseq := strconv.Itoa(c.cseq) + " BYE"
	req := fmt.Sprintf("BYE %s SIP/2.0\r\n%sMax-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>;tag=%s\r\n"+
		"Call-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n",
		c.target, u.via(), c.user, u.server.Addr(), c.fromTag, number, u.server.Addr(), c.toTag, c.callID, cseq)
	res, err := u.request(ctx, c.callID, cseq, []byte(req))
	if err != nil {
		return fmt.Errorf("BYE from %s: %w", c.user, err)
	}
	if res.code != 200 {
		return fmt.Errorf("BYE from %s: answered %d", c.user, res.code)
	}
	return nil
}

func randHex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rand.IntN(16)]
	}
	return string(b)
}
