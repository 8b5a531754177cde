// Package sipserver is the SIP side of sipphone, built on sipgo's transport,
// transaction and parser layers: the registrar for the adapter's ports with
// digest authentication, dialogs, answering calls placed by the phone and
// ringing the phone. It reports SIP facts to the line owner
// (sipphone.CallFacts) and sends the messages the owner orders
// (sipphone.Signaller). It speaks SIP only: it keeps no registry of calls
// (a call's dialog is kept by the owner and looked up by Call-ID), and
// never starts or stops media; it only builds and reads SDP.
//
// It is about 2,000 lines: registrar, digest auth, bans, dialogs, rings and calls are one concern,
// SIP on the wire.
package sipserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dtmf/sipinfo"
)

// Config configures a Server.
type Config struct {
	Host       netip.Addr // listen address; the unspecified address listens on all
	Port       int        // 0 picks a free port (the same number for UDP and TCP)
	Transports []string   // "udp", "tcp"
	// Advertise is the address put in Contact, Via and SDP. When invalid,
	// the address the system routes toward each peer is used.
	Advertise netip.Addr
	// Allowed reports whether a source may talk to us at all; nil allows all.
	Allowed func(netip.Addr) bool
	// Ban limits failed authentications per source (DefaultBanPolicy when
	// zero).
	Ban BanPolicy

	AuthEnabled   bool
	Realm         string
	NonceLifetime time.Duration
	// Password returns the password of an Authenticate ID registering or
	// calling as SIP user aor.
	Password func(aor, authUser string) (string, bool)

	MinExpires, MaxExpires int // seconds

	Codec string // preferred codec: PCMU or PCMA
	PTime int    // ms

	// Lines is the owner of lines and calls, to which SIP facts go.
	Lines  sipphone.CallFacts
	Logger *slog.Logger
	Now    func() time.Time
	// Name is sent as the Server and User-Agent header.
	Name string
}

// Server is the SIP server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	auth *digestAuth

	udp     net.PacketConn
	tcp     net.Listener
	udpAddr netip.AddrPort // actual bound addresses
	tcpAddr netip.AddrPort

	msgs *messageLog // the last SIP messages, for diagnostics
	ban  *Limiter    // failed-authentication bans

	refused refusals // sources outside the allow-list already logged

	// AuthFailures counts refused digest authentications.
	AuthFailures atomic.Uint64

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts (see spawn)

	// mu guards stopped and localIPs. It is the last lock in the order
	// (the line owner may hold its own when it calls Ring); never held
	// across a network write.
	mu       sync.Mutex
	stopped  bool // Shutdown began: no goroutine may start
	localIPs map[netip.Addr]netip.Addr
}

// spawn runs f on a goroutine the server owns, unless Shutdown began. The
// check and wg.Add are under mu, so Shutdown's Wait never races an Add.
func (s *Server) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// New builds a server. It opens nothing until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Realm == "" {
		cfg.Realm = "sipphone"
	}
	if cfg.NonceLifetime <= 0 {
		cfg.NonceLifetime = 5 * time.Minute
	}
	if cfg.MinExpires <= 0 {
		cfg.MinExpires = 60
	}
	if cfg.MaxExpires < cfg.MinExpires {
		cfg.MaxExpires = 3600
	}
	if cfg.PTime == 0 {
		cfg.PTime = 20
	}
	if len(cfg.Transports) == 0 {
		cfg.Transports = []string{"udp", "tcp"}
	}
	if cfg.Name == "" {
		cfg.Name = "sipphone"
	}
	if cfg.Lines == nil {
		return nil, errors.New("sipserver: Lines is required")
	}
	if cfg.Ban.MaxFailures == 0 {
		exempt := cfg.Ban.Exempt
		cfg.Ban = DefaultBanPolicy
		cfg.Ban.Exempt = exempt
	}
	traceHub.installTracer()
	log := cfg.Logger.With("component", "sip")
	s := &Server{cfg: cfg, log: log, ban: NewLimiter(cfg.Ban, cfg.Now)}
	// sipgo logs through the server's logger, one level lower: what it
	// reports as errors (unparsable packets) is routine noise here.
	sipLog := slog.New(demote{log.Handler()}).With("layer", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.Name),
		// Answers go back where requests came from; a request must never
		// make us look up or connect to a host it names.
		sipgo.WithUserAgentDNSResolver(noResolver),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("response to no transaction (a retransmission)", "response", r.StartLine())
			})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog),
			// Filters before parsing: sources outside ht802.host and banned
			// sources cost one check, get no answer and no log line.
			sip.WithTransportLayerReadFilter(s.readFilter),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: &sip.TransportTCP{DialerCreate: s.dialer}})))
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(log))
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.ua, s.srv, s.cli = ua, srv, cli
	s.auth = newDigestAuth(cfg.Realm, cfg.NonceLifetime, cfg.Now)
	s.ctx, s.cancel = ctx, cancel
	s.msgs = &messageLog{ring: make([]Message, 200)}
	s.localIPs = map[netip.Addr]netip.Addr{}
	srv.OnRegister(s.guard(s.onRegister))
	srv.OnInvite(s.guard(s.onInvite))
	srv.OnAck(s.guard(s.onAck))
	srv.OnBye(s.guard(s.onBye))
	srv.OnCancel(s.guard(s.onCancel))
	srv.OnOptions(s.guard(s.onOptions))
	srv.OnInfo(s.guard(s.onInfo))
	srv.OnNoRoute(s.guard(s.onNoRoute))
	return s, nil
}

// Start binds the listeners and serves. If it fails half-way, what was
// opened is closed again.
func (s *Server) Start() error {
	var udp, tcp bool
	for _, t := range s.cfg.Transports {
		switch strings.ToLower(t) {
		case "udp":
			udp = true
		case "tcp":
			tcp = true
		default:
			return fmt.Errorf("sipserver: unsupported transport %q", t)
		}
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		err = s.listen(udp, tcp)
		if err == nil || s.cfg.Port != 0 {
			break
		}
	}
	if err != nil {
		return err
	}
	if udp := s.udp; udp != nil {
		s.spawn(func() { s.srv.ServeUDP(udp) })
	}
	if tcp := s.tcp; tcp != nil {
		s.spawn(func() { s.srv.ServeTCP(tcp) })
	}
	traceHub.register(s.port("udp"), s.msgs)
	if s.tcpAddr.IsValid() {
		traceHub.register(int(s.tcpAddr.Port()), s.msgs)
	}
	s.log.Info("SIP listening", "udp", s.udpAddr, "tcp", s.tcpAddr, "auth", s.cfg.AuthEnabled)
	return nil
}

// listen binds UDP and TCP on the same port number.
func (s *Server) listen(udp, tcp bool) error {
	port := s.cfg.Port
	host := s.cfg.Host
	if udp {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(host, uint16(port))))
		if err != nil {
			return fmt.Errorf("listen SIP UDP %s: %w", netip.AddrPortFrom(host, uint16(port)), err)
		}
		s.udp = c
		s.udpAddr = c.LocalAddr().(*net.UDPAddr).AddrPort()
		port = int(s.udpAddr.Port())
	}
	if tcp {
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(host, uint16(port))))
		if err != nil {
			if s.udp != nil {
				s.udp.Close()
				s.udp = nil
			}
			return fmt.Errorf("listen SIP TCP %s: %w", netip.AddrPortFrom(host, uint16(port)), err)
		}
		s.tcp = l
		s.tcpAddr = l.Addr().(*net.TCPAddr).AddrPort()
	}
	return nil
}

// UDPAddr returns the bound UDP address (invalid when UDP is off).
func (s *Server) UDPAddr() netip.AddrPort { return s.udpAddr }

// TCPAddr returns the bound TCP address (invalid when TCP is off).
func (s *Server) TCPAddr() netip.AddrPort { return s.tcpAddr }

// Ready reports whether the listeners are up.
func (s *Server) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopped && (s.udp != nil || s.tcp != nil)
}

// Shutdown closes the listeners and waits for every goroutine of the
// server (rings, BYE and CANCEL transactions, 2xx retransmissions) to end,
// cancelling those still waiting. The line owner ends calls and rings first
// (line.Manager.Shutdown), so they get their BYE and CANCEL within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	traceHub.unregister(int(s.udpAddr.Port()), s.msgs)
	traceHub.unregister(int(s.tcpAddr.Port()), s.msgs)
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	s.ua.Close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done // every goroutine watches s.ctx, cancelled above: this is short
		return ctx.Err()
	}
}

// readFilter drops datagrams and stream data from sources outside the
// allow-list or banned, before sipgo parses them.
func (s *Server) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	ap, err := netip.ParseAddrPort(p.RemoteAddr.String())
	if err != nil {
		return nil, nil
	}
	ip := ap.Addr().Unmap()
	if s.cfg.Allowed != nil && !s.cfg.Allowed(ip) {
		if s.refused.first(ip, s.cfg.Now()) {
			s.log.Warn("SIP from a source not in ht802.host dropped (logged once per source per 10 minutes)",
				"source", p.RemoteAddr.String(), "transport", p.Transport)
		}
		return nil, nil
	}
	if s.ban.Banned(ip) {
		return nil, nil
	}
	return data, nil
}

// refusals remembers when sources were last logged as refused, so a
// stranger's traffic is logged once per source and period, not per packet.
type refusals struct {
	mu   sync.Mutex // guards seen
	seen map[netip.Addr]time.Time
}

func (r *refusals) first(ip netip.Addr, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil || len(r.seen) > 1024 {
		r.seen = map[netip.Addr]time.Time{}
	}
	if t, ok := r.seen[ip]; ok && now.Sub(t) < 10*time.Minute {
		return false
	}
	r.seen[ip] = now
	return true
}

// dialer lets sipgo open TCP connections only to the address a line
// registered from (to ring it after its connection closed): never to an
// address a request merely named.
func (s *Server) dialer(laddr net.Addr) net.Dialer {
	return net.Dialer{Timeout: 10 * time.Second, LocalAddr: laddr,
		Control: func(network, address string, _ syscall.RawConn) error {
			if s.cfg.Lines.RegisteredFrom(address) {
				return nil
			}
			return fmt.Errorf("sipserver: not connecting to %s: no line registered from there", address)
		}}
}

// noResolver refuses every DNS lookup sipgo would make.
var noResolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("sipserver: DNS lookups are disabled")
}}

// LibraryLogger returns the logger to give sipgo's process-wide default
// (sip.SetDefaultLogger): log's handler, one level lower.
func LibraryLogger(log *slog.Logger) *slog.Logger {
	return slog.New(demote{log.Handler()}).With("layer", "sipgo")
}

// demote passes sipgo's log records on one level lower (errors become
// warnings, warnings information, information debug).
type demote struct{ slog.Handler }

func (d demote) Enabled(ctx context.Context, l slog.Level) bool {
	return d.Handler.Enabled(ctx, l-4)
}

func (d demote) Handle(ctx context.Context, r slog.Record) error {
	r.Level -= 4
	return d.Handler.Handle(ctx, r)
}

func (d demote) WithAttrs(a []slog.Attr) slog.Handler { return demote{d.Handler.WithAttrs(a)} }
func (d demote) WithGroup(n string) slog.Handler      { return demote{d.Handler.WithGroup(n)} }

// guard applies the checks every request passes before any processing:
// the source allow-list and a panic barrier so no request can take the
// server down.
func (s *Server) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic handling SIP request", "method", req.Method, "source", req.Source(), "panic", r)
				if !req.IsAck() {
					s.respond(tx, req, sip.StatusInternalServerError, "Internal Server Error", nil)
				}
			}
		}()
		src, ok := sourceAddr(req)
		if !ok || (s.cfg.Allowed != nil && !s.cfg.Allowed(src)) {
			s.log.Warn("SIP request from a source not in ht802.host dropped", "method", req.Method, "source", req.Source())
			return // no answer: do not help a scanner
		}
		if s.ban.Banned(src) {
			return // banned: no answer, no log line (a flood must not fill the log)
		}
		if isScanner(req) {
			s.log.Warn(msgScanner, "source", req.Source(), "user_agent", headerValue(req, "User-Agent"))
			return
		}
		h(req, tx)
	}
}

var scannerAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sundayddr", "iwar", "sipsak"}

func isScanner(req *sip.Request) bool {
	ua := strings.ToLower(headerValue(req, "User-Agent"))
	if ua == "" {
		return false
	}
	for _, s := range scannerAgents {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

func headerValue(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func sourceAddr(req *sip.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// respond sends a response built from req with extra headers.
func (s *Server) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, body []byte, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.Name))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sending SIP response failed", "code", code, "method", req.Method, "err", err)
	}
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, sip.StatusOK, "OK", nil,
		sip.NewHeader("Allow", allowed),
		sip.NewHeader("Accept", "application/sdp, "+sipinfo.Accept))
}

const allowed = "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, INFO"

func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	s.respond(tx, req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil, sip.NewHeader("Allow", allowed))
}

// localIP returns the address to advertise to peer.
func (s *Server) localIP(peer netip.Addr) netip.Addr {
	if s.cfg.Advertise.IsValid() {
		return s.cfg.Advertise
	}
	if !s.cfg.Host.IsUnspecified() {
		return s.cfg.Host
	}
	s.mu.Lock()
	ip, ok := s.localIPs[peer]
	s.mu.Unlock()
	if ok {
		return ip
	}
	ip = netip.MustParseAddr("127.0.0.1")
	// Connecting a UDP socket sends nothing; it asks the kernel which local
	// address routes to peer.
	if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, 9))); err == nil {
		ip = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		c.Close()
	}
	s.mu.Lock()
	if len(s.localIPs) > 256 {
		clear(s.localIPs)
	}
	s.localIPs[peer] = ip
	s.mu.Unlock()
	return ip
}

// port returns our SIP port for transport.
func (s *Server) port(transport string) int {
	if strings.EqualFold(transport, "tcp") && s.tcpAddr.IsValid() {
		return int(s.tcpAddr.Port())
	}
	if s.udpAddr.IsValid() {
		return int(s.udpAddr.Port())
	}
	return int(s.tcpAddr.Port())
}

// contactHeader is our Contact toward peer.
func (s *Server) contactHeader(peer netip.Addr, transport string) *sip.ContactHeader {
	c := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "sipphone", Host: s.localIP(peer).String(), Port: s.port(transport)}}
	if strings.EqualFold(transport, "tcp") {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", "tcp")
	}
	return c
}
