package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const allowHeader = "INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE"

// line is one FXS port: its own SIP user agent on its own local port, its
// registration, and at most one call.
type line struct {
	p   *Phone
	idx int
	cfg LineConfig
	log *slog.Logger

	ip         netip.Addr
	serverHost string
	serverPort int

	src source   // outgoing audio
	rx  rxRecord // what the current or last call received

	regSem   chan struct{} // serialises REGISTER transactions (a one-slot queue)
	regTimer *time.Timer   // fires the next refresh or retry; runtime-synchronised

	// Set by bind, read-only afterwards (bindOnce publishes them).
	bindDone bool
	ua       *sipgo.UserAgent
	cli      *sipgo.Client
	srv      *sipgo.Server
	dua      *sipgo.DialogUA
	pconn    net.PacketConn
	ln       net.Listener
	contact  sip.ContactHeader
	laddr    sip.Addr // UDP: send from the listening socket
	serveWG  sync.WaitGroup
	// down is set when the user agent shuts down: received SIP is dropped
	// from then on, so that no late request makes the transport open a
	// connection after its pool was cleared.
	down atomic.Bool

	mu         sync.Mutex // guards the fields below; never held during network I/O
	registered bool
	regCallID  string
	regCSeq    uint32
	mode       AnswerMode
	delay      time.Duration
	lifted     bool // handset off-hook with no call (reorder or busy tone)
	call       *call
}

func newLine(p *Phone, idx int, lc LineConfig, ip netip.Addr, host string, port int) *line {
	l := &line{
		p: p, idx: idx, cfg: lc,
		log:        p.log.With("line", idx, "user", lc.User),
		ip:         ip,
		serverHost: host,
		serverPort: port,
		regSem:     make(chan struct{}, 1),
		regTimer:   time.NewTimer(time.Hour),
		mode:       lc.Answer,
		delay:      lc.AnswerDelay,
		regCallID:  randomHex(8) + "@" + ip.String(),
		regCSeq:    1,
	}
	l.regTimer.Stop()
	l.rx.lastPT, l.rx.tePT = -1, -1
	return l
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *line) bound() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bindDone
}

func (l *line) udp() bool { return l.p.cfg.Transport == "udp" }

// bind creates the line's user agent and starts serving its SIP port.
func (l *line) bind() error {
	sipLog := l.log.With("component", "sim-sip")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(l.p.cfg.UserAgent),
		sipgo.WithUserAgentHostname(l.ip.String()),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("unmatched response", "status", r.StatusCode)
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(func(_ sip.TransportReadProps, data []byte) ([]byte, error) {
				if l.down.Load() {
					return nil, nil
				}
				return data, nil
			}),
		),
	)
	if err != nil {
		return fmt.Errorf("user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		_ = ua.Close()
		return fmt.Errorf("server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(l.ip.String()))
	if err != nil {
		_ = ua.Close()
		return fmt.Errorf("client: %w", err)
	}

	bindAddr := netip.AddrPortFrom(l.ip, 0).String()
	var port int
	var pconn net.PacketConn
	var ln net.Listener
	if l.udp() {
		pconn, err = net.ListenPacket("udp", bindAddr)
		if err != nil {
			_ = ua.Close()
			return fmt.Errorf("bind sip: %w", err)
		}
		port = pconn.LocalAddr().(*net.UDPAddr).Port
	} else {
		ln, err = net.Listen("tcp", bindAddr)
		if err != nil {
			_ = ua.Close()
			return fmt.Errorf("bind sip: %w", err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
	}

	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: l.cfg.User, Host: l.ip.String(), Port: port}}
	if !l.udp() {
		contact.Address.UriParams = sip.HeaderParams{{K: "transport", V: "tcp"}}
	}

	srv.OnInvite(l.handler(l.onInvite))
	srv.OnAck(l.handler(l.onAck))
	srv.OnBye(l.handler(l.onBye))
	srv.OnCancel(l.handler(l.onCancel))
	srv.OnOptions(l.handler(l.onOptions))
	srv.OnInfo(l.handler(l.respondOK))
	srv.OnNotify(l.handler(l.respondOK))

	l.mu.Lock()
	l.ua, l.cli, l.srv = ua, cli, srv
	l.dua = &sipgo.DialogUA{Client: cli, ContactHDR: contact}
	l.pconn, l.ln, l.contact = pconn, ln, contact
	if l.udp() {
		l.laddr = sip.Addr{IP: net.IP(l.ip.AsSlice()), Port: port, Hostname: l.ip.String()}
	}
	l.bindDone = true
	l.mu.Unlock()

	l.serveWG.Add(1)
	go func() {
		defer l.serveWG.Done()
		if pconn != nil {
			_ = srv.ServeUDP(pconn)
		} else {
			_ = srv.ServeTCP(ln)
		}
	}()
	if pconn != nil {
		// Requests are sent from the listening socket, which the transport
		// finds in its pool once serving began.
		tp, addr := ua.TransportLayer(), pconn.LocalAddr().String()
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
			if c, err := tp.GetConnection("udp", addr); err == nil {
				_, _ = c.TryClose() // GetConnection took a reference
				break
			}
			if time.Now().After(deadline) {
				return errors.New("sip transport did not start")
			}
		}
	}
	l.log.Debug("sip bound", "addr", contact.Address.HostPort(), "transport", l.p.cfg.Transport)
	return nil
}

// contactAddr returns host:port of the line's SIP port.
func (l *line) contactAddr() string { return l.contact.Address.HostPort() }

// handler wraps a request handler so that Close waits for it and requests
// arriving during Close are refused.
func (l *line) handler(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !l.p.track() {
			if !req.IsAck() {
				_ = tx.Respond(l.response(req, 503, "Service Unavailable", nil))
			}
			return
		}
		defer l.p.wg.Done()
		h(req, tx)
	}
}

// response builds a response carrying the adapter's User-Agent.
func (l *line) response(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	res.AppendHeader(sip.NewHeader("User-Agent", l.p.cfg.UserAgent))
	return res
}

func (l *line) respondOK(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(l.response(req, 200, "OK", nil))
}

func (l *line) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := l.response(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	_ = tx.Respond(res)
}

func (l *line) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL matching a pending INVITE is answered by the transaction
	// layer; one reaching here matches nothing (RFC 3261 section 9.2).
	_ = tx.Respond(l.response(req, 481, "Call/Transaction Does Not Exist", nil))
}

// newRequest builds a request from this line to the server's transport,
// sent from the line's SIP port.
func (l *line) newRequest(method sip.RequestMethod, to sip.Uri) *sip.Request {
	req := sip.NewRequest(method, to)
	req.SetTransport(strings.ToUpper(l.p.cfg.Transport))
	req.AppendHeader(sip.NewHeader("User-Agent", l.p.cfg.UserAgent))
	if l.udp() {
		req.Laddr = sip.Addr{IP: l.laddr.IP, Port: l.laddr.Port, Hostname: l.laddr.Hostname}
	}
	return req
}

// serverURI is sip:[user@]server.
func (l *line) serverURI(user string) sip.Uri {
	return sip.Uri{Scheme: "sip", User: user, Host: l.serverHost, Port: l.serverPort}
}

// aor is the line's address of record, sip:user@server-host.
func (l *line) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: l.cfg.User, Host: l.serverHost}
}

// fromHeader is the line's From with display name and a new tag.
func (l *line) fromHeader() *sip.FromHeader {
	from := &sip.FromHeader{DisplayName: l.cfg.DisplayName, Address: l.aor(), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	return from
}

// register sends one REGISTER (with digest answer) and schedules the next:
// a refresh before expiry, or a retry after a failure.
func (l *line) register(ctx context.Context) error {
	return l.doRegister(ctx, false)
}

func (l *line) unregister(ctx context.Context) error {
	return l.doRegister(ctx, true)
}

func (l *line) doRegister(ctx context.Context, remove bool) error {
	select {
	case l.regSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.p.closing:
		return ErrClosed
	}
	defer func() { <-l.regSem }()
	if err := ctx.Err(); err != nil {
		return err // select picks at random when both were ready
	}

	expires := l.p.cfg.Expires
	l.mu.Lock()
	l.regCSeq++
	cseq, callID := l.regCSeq, l.regCallID
	l.mu.Unlock()

	req := l.newRequest(sip.REGISTER, l.serverURI(""))
	from := l.fromHeader()
	to := &sip.ToHeader{Address: l.aor(), Params: sip.NewParams()}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if remove {
		req.AppendHeader(sip.NewHeader("Contact", "*"))
		req.AppendHeader(sip.NewHeader("Expires", "0"))
		l.regTimer.Stop()
	} else {
		req.AppendHeader(l.contact.Clone())
		req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	}
	req.AppendHeader(sip.NewHeader("Supported", "path"))
	req.AppendHeader(sip.NewHeader("Allow", allowHeader))
	req.SetBody(nil)

	res, err := l.cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = l.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: l.cfg.AuthUser, Password: l.cfg.Password})
	}
	if c := req.CSeq(); c != nil {
		l.mu.Lock()
		l.regCSeq = max(l.regCSeq, c.SeqNo)
		l.mu.Unlock()
	}

	switch {
	case err != nil:
		if !remove {
			l.schedule(l.p.cfg.RetryInterval)
		}
		l.p.emit(Event{Line: l.idx, Type: EventRegistrationFailed})
		return fmt.Errorf("register: %w", err)
	case res.StatusCode < 200 || res.StatusCode > 299:
		if !remove {
			retry := l.p.cfg.RetryInterval
			if res.StatusCode == 403 {
				retry = expires
			}
			l.schedule(retry)
		}
		l.p.emit(Event{Line: l.idx, Type: EventRegistrationFailed, Status: res.StatusCode})
		return &StatusError{Method: "REGISTER", Code: res.StatusCode, Reason: res.Reason}
	}

	l.mu.Lock()
	l.registered = !remove
	l.mu.Unlock()
	if remove {
		l.log.Info("unregistered")
		l.p.emit(Event{Line: l.idx, Type: EventUnregistered, Status: res.StatusCode})
		return nil
	}
	granted := l.granted(res, expires)
	l.schedule(refreshDelay(granted))
	l.log.Info("registered", "expires", granted)
	l.p.emit(Event{Line: l.idx, Type: EventRegistered, Status: res.StatusCode})
	return nil
}

// granted returns the registration lifetime the registrar granted: our
// Contact's expires parameter, else the Expires header, else what we asked.
func (l *line) granted(res *sip.Response, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.User != l.cfg.User || c.Address.Port != l.contact.Address.Port {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// refreshDelay is when to refresh a registration granted for d: at 90 % of
// its lifetime, so that it never lapses.
func refreshDelay(d time.Duration) time.Duration {
	return max(d*9/10, 500*time.Millisecond)
}

func (l *line) schedule(d time.Duration) { l.regTimer.Reset(d) }

// refreshLoop re-registers whenever the registration timer fires.
func (l *line) refreshLoop() {
	defer l.p.loops.Done()
	for {
		select {
		case <-l.p.closing:
			return
		case <-l.regTimer.C:
			if err := l.register(l.p.ctx); err != nil && !l.p.isClosing() {
				l.log.Warn("registration refresh failed", "err", err)
			}
		}
	}
}

// state returns the line's state name.
func (l *line) state() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.call != nil:
		return l.call.state
	case l.lifted:
		return StateOffHook
	case l.registered || l.p.cfg.NoRegister:
		return StateIdle
	}
	return StateUnregistered
}

// stop closes the user agent: transactions end, received SIP is dropped.
// The SIP socket stays open until release, so that a request still being
// sent fails instead of opening a new socket on the freed port.
func (l *line) stop() error {
	l.regTimer.Stop()
	l.mu.Lock()
	ua, ok := l.ua, l.bindDone
	l.mu.Unlock()
	if !ok {
		return nil
	}
	l.down.Store(true)
	if err := ua.Close(); err != nil {
		return fmt.Errorf("line %d: %w", l.idx+1, err)
	}
	return nil
}

// release closes the SIP socket and waits for serving to end. A request
// read just before stop may still have made the transport open a
// connection for its response; clearing the transports again closes it.
func (l *line) release() error {
	l.mu.Lock()
	ua, pconn, ln, ok := l.ua, l.pconn, l.ln, l.bindDone
	l.mu.Unlock()
	if !ok {
		return nil
	}
	var errs []error
	if pconn != nil {
		if err := pconn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if ln != nil {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	l.serveWG.Wait()
	if err := ua.TransportLayer().Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("line %d: %w", l.idx+1, errors.Join(errs...))
	}
	return nil
}
