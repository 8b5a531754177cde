package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
	"go.uber.org/goleak"
)

// peer is a small SIP server for the tests: a digest-challenging registrar
// that answers INVITEs (or refuses them, or lets them ring), records every
// request, rings the phone, and runs an RTP endpoint that records packets.
type peer struct {
	t         testing.TB
	transport string
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	dua       *sipgo.DialogUA
	pconn     net.PacketConn
	ln        net.Listener
	host      string
	port      int
	closing   chan struct{}
	down      *atomic.Bool
	wg        sync.WaitGroup
	rtp       *rtpPeer

	mu         sync.Mutex // guards the fields below
	passwords  map[string]string
	nonce      string
	grant      int // expires granted to REGISTER, 0 = as asked
	regCode    int // final code for authenticated REGISTERs (default 200)
	inviteCode int // final code for INVITEs: 200 default, -1 = ring until CANCEL
	answerPTs  string
	ringFor    time.Duration // between 180 and the final response
	inviteAuth bool          // challenge INVITEs with 407
	cancels    int           // INVITEs cancelled (the transaction layer answers CANCEL itself)
	reqs       []*sip.Request
	uas        *sipgo.DialogServerSession
	phoneSDP   *mediaDesc
}

const testRealm = "sim.test"

func newPeer(t testing.TB, transport string) *peer {
	t.Helper()
	leakOpt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpt, sipgoLateConn) })
	log := slog.New(slog.DiscardHandler)
	down := &atomic.Bool{}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("test-pbx"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log),
			// Once closing, drop what arrives: a late request would make the
			// transport open a socket after its pool was cleared.
			sip.WithTransportLayerReadFilter(func(_ sip.TransportReadProps, data []byte) ([]byte, error) {
				if down.Load() {
					return nil, nil
				}
				return data, nil
			})),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(log), sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{
		t: t, transport: transport, ua: ua, cli: cli, host: "127.0.0.1",
		closing:   make(chan struct{}),
		down:      down,
		passwords: map[string]string{"phone1": "secret", "phone2": "secret2", "auth1": "secret"},
		nonce:     "n" + randomHex(8),
		answerPTs: "0 101",
		ringFor:   30 * time.Millisecond,
	}
	if transport == "tcp" {
		p.ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			p.port = p.ln.Addr().(*net.TCPAddr).Port
		}
	} else {
		p.pconn, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err == nil {
			p.port = p.pconn.LocalAddr().(*net.UDPAddr).Port
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "pbx", Host: p.host, Port: p.port}}
	p.dua = &sipgo.DialogUA{Client: cli, ContactHDR: contact}
	p.rtp = newRTPPeer(t)

	wrap := func(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			p.mu.Lock()
			p.reqs = append(p.reqs, req.Clone())
			p.mu.Unlock()
			h(req, tx)
		}
	}
	srv.OnRegister(wrap(p.onRegister))
	srv.OnInvite(wrap(p.onInvite))
	srv.OnAck(wrap(p.onAck))
	srv.OnBye(wrap(p.onBye))
	srv.OnCancel(wrap(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "No Transaction", nil))
	}))
	srv.OnInfo(wrap(p.ok))
	srv.OnOptions(wrap(p.ok))

	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if p.ln != nil {
			_ = srv.ServeTCP(p.ln)
		} else {
			_ = srv.ServeUDP(p.pconn)
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *peer) addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

func (p *peer) close() {
	close(p.closing)
	p.down.Store(true)
	_ = p.ua.Close()
	if p.pconn != nil {
		_ = p.pconn.Close()
	}
	if p.ln != nil {
		_ = p.ln.Close()
	}
	p.wg.Wait()
	_ = p.ua.TransportLayer().Close() // a request read while closing may have opened a connection
	p.rtp.close()
}

func (p *peer) set(f func(p *peer)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *peer) ok(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// requests returns the recorded requests of a method ("" = all).
func (p *peer) requests(method sip.RequestMethod) []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sip.Request
	for _, r := range p.reqs {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// waitRequests polls until n requests of method arrived and returns them.
func (p *peer) waitRequests(t testing.TB, method sip.RequestMethod, n int) []*sip.Request {
	t.Helper()
	var got []*sip.Request
	waitUntil(t, fmt.Sprintf("%d %s request(s)", n, method), func() bool {
		got = p.requests(method)
		return len(got) >= n
	})
	return got
}

func (p *peer) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	nonce, grant, code := p.nonce, p.grant, p.regCode
	p.mu.Unlock()
	h := req.GetHeader("Authorization")
	if h == nil {
		res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		chal := digest.Challenge{Realm: testRealm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}}
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", chal.String()))
		_ = tx.Respond(res)
		return
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Authorization", nil))
		return
	}
	p.mu.Lock()
	pw, known := p.passwords[cred.Username]
	p.mu.Unlock()
	want, err := digest.Digest(&digest.Challenge{Realm: testRealm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "REGISTER", URI: cred.URI, Username: cred.Username, Password: pw, Cnonce: cred.Cnonce, Count: cred.Nc})
	if !known || err != nil || want.Response != cred.Response {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	if code != 0 && code != 200 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, "Refused", nil))
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if c := req.Contact(); c != nil {
		cc := c.Clone()
		if grant > 0 {
			cc.Params = sip.NewParams()
			cc.Params.Add("expires", strconv.Itoa(grant))
		}
		res.AppendHeader(cc)
	}
	_ = tx.Respond(res)
}

// answerSDP is the peer's SDP with the given m= formats.
func (p *peer) answerSDP(formats string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=pbx\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n", p.rtp.port(), formats)
	for _, f := range strings.Fields(formats) {
		switch f {
		case "0":
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case "8":
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		case "18":
			b.WriteString("a=rtpmap:18 G729/8000\r\n")
		default:
			fmt.Fprintf(&b, "a=rtpmap:%s telephone-event/8000\r\na=fmtp:%s 0-16\r\n", f, f)
		}
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

// onInvite answers a call from the phone: 100, 180, then the configured
// final response.
func (p *peer) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	code, pts, ringFor, auth, nonce := p.inviteCode, p.answerPTs, p.ringFor, p.inviteAuth, p.nonce
	p.mu.Unlock()
	if auth {
		chal := &digest.Challenge{Realm: testRealm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}}
		h := req.GetHeader("Proxy-Authorization")
		if h == nil {
			res := sip.NewResponseFromRequest(req, 407, "Proxy Authentication Required", nil)
			res.AppendHeader(sip.NewHeader("Proxy-Authenticate", chal.String()))
			_ = tx.Respond(res)
			return
		}
		cred, err := digest.ParseCredentials(h.Value())
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return
		}
		p.mu.Lock()
		pw := p.passwords[cred.Username]
		p.mu.Unlock()
		want, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: cred.URI, Username: cred.Username, Password: pw, Cnonce: cred.Cnonce, Count: cred.Nc})
		if err != nil || want.Response != cred.Response {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return
		}
	}
	sess, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad", nil))
		return
	}
	desc, _ := parseSDP(req.Body())
	p.mu.Lock()
	p.uas, p.phoneSDP = sess, desc
	p.mu.Unlock()
	_ = sess.Respond(100, "Trying", nil)
	_ = sess.Respond(180, "Ringing", nil)
	if code == -1 {
		select {
		case <-sess.Context().Done():
			if errors.Is(context.Cause(sess.Context()), sip.ErrTransactionCanceled) {
				p.mu.Lock()
				p.cancels++
				p.mu.Unlock()
			}
		case <-p.closing:
		}
		return
	}
	// The called party rings for a moment: a final response right after
	// the 180 may overtake it.
	ring := time.NewTimer(ringFor)
	defer ring.Stop()
	select {
	case <-ring.C:
	case <-p.closing:
		return
	}
	switch {
	case code == 0 || code == 200:
		if desc != nil {
			p.rtp.setRemote(desc.addr)
		}
		_ = sess.RespondSDP(p.answerSDP(pts))
	default:
		_ = sess.Respond(code, "Refused", nil)
	}
}

func (p *peer) onAck(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	sess := p.uas
	p.mu.Unlock()
	if sess != nil {
		_ = sess.ReadAck(req, tx)
	}
}

func (p *peer) onBye(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	sess := p.uas
	p.mu.Unlock()
	if sess != nil && sess.InviteRequest.CallID().Value() == req.CallID().Value() {
		_ = sess.ReadBye(req, tx)
		return
	}
	// BYE for a call the peer placed.
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// ring sends an INVITE to the phone's line and waits for the answer.
// formats is the m= line of the offer. The returned session is acknowledged
// when err is nil.
func (p *peer) ring(ctx context.Context, contact, user, formats string, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	host, portStr, _ := net.SplitHostPort(contact)
	port, _ := strconv.Atoi(portStr)
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: user, Host: host, Port: port})
	req.SetTransport(strings.ToUpper(p.transport))
	from := &sip.FromHeader{DisplayName: "Front Door", Address: sip.Uri{Scheme: "sip", User: "1001", Host: p.host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(p.answerSDP(formats))
	if p.pconn != nil {
		req.Laddr = sip.Addr{IP: net.ParseIP(p.host), Port: p.port, Hostname: p.host}
	}
	sess, err := p.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		return sess, err
	}
	if desc, err := parseSDP(sess.InviteResponse.Body()); err == nil {
		p.rtp.setRemote(desc.addr)
	}
	return sess, sess.Ack(ctx)
}

// rtpPeer records the RTP it receives and can send G.711 to the phone.
type rtpPeer struct {
	conn *net.UDPConn
	wg   sync.WaitGroup

	mu     sync.Mutex // guards pkts and remote
	pkts   []rtp.Packet
	remote netip.AddrPort
}

func newRTPPeer(t testing.TB) *rtpPeer {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	r := &rtpPeer{conn: conn}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(append([]byte(nil), buf[:n]...)) != nil {
				continue
			}
			r.mu.Lock()
			if len(r.pkts) < 20000 {
				r.pkts = append(r.pkts, pkt)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *rtpPeer) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *rtpPeer) close() {
	_ = r.conn.Close()
	r.wg.Wait()
}

func (r *rtpPeer) setRemote(a netip.AddrPort) {
	r.mu.Lock()
	r.remote = a
	r.mu.Unlock()
}

func (r *rtpPeer) packets() []rtp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtp.Packet(nil), r.pkts...)
}

// audio decodes the received audio packets of payload type pt.
func (r *rtpPeer) audio(pt uint8) []int16 {
	var out []int16
	for _, p := range r.packets() {
		if p.PayloadType != pt {
			continue
		}
		for _, b := range p.Payload {
			if pt == ptPCMA {
				out = append(out, g711.DecodeAlawFrame(b))
			} else {
				out = append(out, g711.DecodeUlawFrame(b))
			}
		}
	}
	return out
}

// sendPCMU sends pcm to the phone as PCMU packets of 20 ms, unpaced: the
// phone records in arrival order and a second of audio fits the socket buffer.
func (r *rtpPeer) sendPCMU(t testing.TB, pcm []int16) {
	t.Helper()
	r.mu.Lock()
	remote := r.remote
	r.mu.Unlock()
	buf := make([]byte, 1500)
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		payload := make([]byte, frameSamples)
		for j := range payload {
			payload[j] = g711.EncodeUlawFrame(pcm[i+j])
		}
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i / frameSamples), Timestamp: uint32(i), SSRC: 0x1234}, Payload: payload}
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.conn.WriteToUDPAddrPort(buf[:n], remote); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUntil polls cond every few milliseconds for up to 5 s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEvent reads events until one of type typ arrives.
func waitEvent(t testing.TB, p *Phone, typ string) Event {
	t.Helper()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s", typ)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("no %s event", typ)
		}
	}
}
