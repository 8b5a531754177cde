package sipserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone/internal/testlog"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/rtp"
	"github.com/sip-phone-api/sipphone/internal/sdp"
)

// fakeTx is a server transaction that records the responses given to it
// instead of sending them.
type fakeTx struct {
	mu        sync.Mutex
	responses []*sip.Response
	done      chan struct{}
	acks      chan *sip.Request
	closeOnce sync.Once
}

func newFakeTx() *fakeTx {
	return &fakeTx{done: make(chan struct{}), acks: make(chan *sip.Request)}
}

func (f *fakeTx) Respond(res *sip.Response) error {
	_ = res.String() // what the transport would do with it
	f.mu.Lock()
	f.responses = append(f.responses, res)
	f.mu.Unlock()
	return nil
}

func (f *fakeTx) recorded() []*sip.Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sip.Response(nil), f.responses...)
}

func (f *fakeTx) Acks() <-chan *sip.Request          { return f.acks }
func (f *fakeTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (f *fakeTx) Done() <-chan struct{}              { return f.done }
func (f *fakeTx) Err() error                         { return nil }
func (f *fakeTx) Terminate()                         { f.closeOnce.Do(func() { close(f.done) }) }
func (f *fakeTx) finals() (n int, distinct []*sip.Response) {
	for _, r := range f.recorded() {
		if r.StatusCode >= 200 && !containsPtr(distinct, r) {
			distinct = append(distinct, r)
		}
	}
	return len(distinct), distinct
}

func containsPtr(rs []*sip.Response, r *sip.Response) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// fuzzPhone is where the fuzzed requests come from: the registered
// phone1's address, on loopback.
const fuzzPhone = "127.0.0.1:5062"

// fuzzServer is a server built as the application builds it, with a real
// line owner and RTP ports on loopback, whose handlers are called directly
// through guard() as sipgo's server would call them. Nothing is listened
// on.
type fuzzServer struct {
	s      *Server
	lines  *line.Manager
	logs   *testlog.Buffer
	routes map[sip.RequestMethod]sipgo.RequestHandler
}

func newFuzzServer(t *testing.T) *fuzzServer {
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	loop := netip.MustParseAddr("127.0.0.1")
	base := 40000 + 2*rand.IntN(5000)
	lines, err := line.New(line.Config{Lines: []line.LineConfig{{ID: "kitchen", User: "phone1"}}, Logger: log,
		Media: line.MediaConfig{Ports: rtp.NewPorts(loop, base, base+19)}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Host:     loop,
		Password: func(aor, authUser string) (string, bool) { return "secret", authUser == "phone1" },
		Lines:    lines, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines.SetSignaller(s)
	if _, err := lines.Register("phone1", sipphone.Registration{Contact: "sip:phone1@" + fuzzPhone, Source: fuzzPhone,
		Transport: "udp", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// The routes New gives sipgo's server, each behind the guard.
	routes := map[sip.RequestMethod]sipgo.RequestHandler{
		sip.REGISTER: s.onRegister, sip.INVITE: s.onInvite, sip.ACK: s.onAck, sip.BYE: s.onBye,
		sip.CANCEL: s.onCancel, sip.OPTIONS: s.onOptions, sip.INFO: s.onInfo,
	}
	for m, h := range routes {
		routes[m] = s.guard(h)
	}
	return &fuzzServer{s: s, lines: lines, logs: logs, routes: routes}
}

// close ends calls without sending BYE (nothing may leave loopback), then
// shuts the server down.
func (f *fuzzServer) close() {
	for _, l := range f.lines.Status() {
		if l.Call != nil {
			if sd, ok := f.lines.Dialog(l.Call.ID); ok {
				sd.(*dialog).setState(dialogEnded)
			}
			f.lines.CallEnded(l.Call.ID, "bye")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.s.Shutdown(ctx)
	f.lines.Close()
}

// handle passes req to its handler as sipgo would, on a goroutine of its
// own, and returns the transaction once the handler has returned, failing
// when it takes longer than a few seconds.
func (f *fuzzServer) handle(t *testing.T, req *sip.Request) *fakeTx {
	t.Helper()
	tx := newFakeTx()
	h, ok := f.routes[req.Method]
	if !ok {
		h = f.s.guard(f.s.onNoRoute)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h(req, tx)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("handler for %s blocked:\n%s", req.StartLine(), buf[:runtime.Stack(buf, true)])
	}
	tx.Terminate()
	return tx
}

// fuzzCallInvite places the call that in-dialog requests of the corpus
// refer to: Call-ID fuzz-call, From tag fuzzfrom. Its RTP goes to sink.
func fuzzCallInvite(sink int) string {
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(sink) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
	return "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + fuzzPhone + ";branch=z9hG4bK-fuzzcall;rport\r\n" +
		"From: <sip:phone1@127.0.0.1>;tag=fuzzfrom\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: fuzz-call\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:phone1@" + fuzzPhone + ">\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func fuzzParse(data []byte) (*sip.Request, error) {
	msg, err := sip.NewParser().ParseSIP(data)
	if err != nil {
		return nil, err
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, errors.New("not a request")
	}
	req.SetSource(fuzzPhone)
	req.SetTransport("UDP")
	return req, nil
}

// reachesHandlers reports whether sipgo's transaction layer passes req to
// the server's handlers: without a Via or CSeq it answers 400 itself.
func reachesHandlers(req *sip.Request) bool {
	return req.Via() != nil && req.CSeq() != nil
}

// staysLocal reports whether a request's media would stay on this
// machine: an INVITE whose offer we would accept names where our RTP goes,
// and a test must not send there unless it is loopback.
func staysLocal(req *sip.Request) bool {
	if !req.IsInvite() {
		return true
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		return true
	}
	neg, err := sdp.Negotiate(offer, "")
	if err != nil {
		return true
	}
	a := neg.Remote.Addr()
	return !a.IsValid() || a.IsLoopback() || a.IsUnspecified()
}

// sinkPort returns the port of a loopback UDP socket that takes the RTP of
// the corpus call.
func sinkPort(tb testing.TB) int {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sink.Close() })
	return sink.LocalAddr().(*net.UDPAddr).Port
}

// serveOne handles data on a fresh server as FuzzSIPRequest describes and
// checks the invariants. It returns the request and what it drew, or a nil
// request when data never reaches the handlers (not a request, or no Via
// or CSeq: sipgo answers those itself).
func serveOne(t *testing.T, sink int, auth, inCall bool, data []byte) (*sip.Request, *fakeTx) {
	t.Helper()
	req, err := fuzzParse(data)
	if err != nil || !reachesHandlers(req) {
		return nil, nil
	}
	if !staysLocal(req) {
		t.Skip("media address not on loopback")
	}
	fs := newFuzzServer(t)
	defer fs.close()
	if inCall {
		call, err := fuzzParse([]byte(fuzzCallInvite(sink)))
		if err != nil {
			t.Fatal(err)
		}
		tx := fs.handle(t, call)
		var tag string
		for _, r := range tx.recorded() {
			if r.StatusCode == 200 {
				tag, _ = r.To().Params.Get("tag")
			}
		}
		if tag == "" {
			t.Fatalf("the corpus call was not answered: %v\n%s", tx.recorded(), fs.logs)
		}
		data = bytes.ReplaceAll(data, []byte("${totag}"), []byte(tag))
	}
	fs.s.cfg.AuthEnabled = auth // after the corpus call, which does not authenticate
	data = bytes.ReplaceAll(data, []byte("${nonce}"), []byte(fs.s.auth.newNonce()))
	if req, err = fuzzParse(data); err != nil || !reachesHandlers(req) {
		return nil, nil
	}
	if !staysLocal(req) {
		t.Skip("media address not on loopback")
	}

	tx := fs.handle(t, req)
	if log := fs.logs.String(); strings.Contains(log, "panic handling SIP request") {
		t.Fatalf("%s panicked:\n%s", req.StartLine(), log)
	}
	n, finals := tx.finals()
	switch {
	case req.IsAck() && len(tx.recorded()) > 0:
		t.Fatalf("ACK answered with %d", tx.recorded()[0].StatusCode)
	case n > 1:
		var codes []int
		for _, r := range finals {
			codes = append(codes, r.StatusCode)
		}
		t.Fatalf("%s drew %d final responses: %v", req.StartLine(), n, codes)
	}
	for _, r := range tx.recorded() {
		if cs := r.CSeq(); cs == nil || cs.SeqNo != req.CSeq().SeqNo || cs.MethodName != req.CSeq().MethodName {
			t.Fatalf("response %d has CSeq %v, request %v", r.StatusCode, cs, req.CSeq())
		}
	}
	return req, tx
}

// FuzzSIPRequest feeds arbitrary bytes to sipgo's parser and what it
// parses as a request to the server's handlers, as the server sees it
// from a registered phone: with or without digest authentication, with or
// without a call in progress (Call-ID fuzz-call, From tag fuzzfrom; the
// text ${totag} in the input becomes our To tag of that call, ${nonce} a
// nonce of ours). No input may panic a handler (the guard recovers and
// logs; the log is checked), block it, or draw more than one final
// response; an ACK draws none. The corpus holds the RFC 4475 torture
// messages and one request for each path of the server.
func FuzzSIPRequest(f *testing.F) {
	sink := sinkPort(f)
	f.Fuzz(func(t *testing.T, auth, inCall bool, data []byte) {
		serveOne(t, sink, auth, inCall, data)
	})
}

// TestSIPRequestCorpusPaths checks that the corpus reaches what its names
// say: each request draws the final answer of its path.
func TestSIPRequestCorpusPaths(t *testing.T) {
	sink := sinkPort(t)
	want := map[string]int{
		"register": 200, "register-contact-expires-param": 423, "register-unregister-all": 200,
		"register-wildcard-without-expires": 400, "register-query": 200, "register-bad-expires": 400,
		"register-not-a-line": 403, "register-no-user": 400, "register-auth-challenge": 401,
		"register-auth-wrong-response": 401, "register-auth-other-scheme": 401, "register-scanner": 0,
		"invite-offhook": 200, "invite-offhook-auth": 401, "invite-no-sdp": 488, "invite-no-common-codec": 488,
		"invite-not-a-line": 403, "invite-while-in-call": 486, "invite-same-call-id": 486,
		"reinvite-in-call": 200, "ack-in-call": 0, "bye-in-call": 200, "bye-wrong-tag": 481, "bye-no-dialog": 481,
		"cancel-no-transaction": 481, "info-dtmf-relay": 200, "info-dtmf-relay-star": 200,
		"info-dtmf-relay-flash": 200, "info-dtmf": 200, "info-hook-flash": 200, "info-empty-keepalive": 200,
		"info-unsupported-type": 415, "info-bad-signal": 400, "info-content-type-params": 200, "info-no-dialog": 481,
		"options": 200, "subscribe-no-route": 405, "message-no-route": 405,
	}
	for name, code := range want {
		t.Run(name, func(t *testing.T) {
			auth, inCall, data := readCorpusFile(t, "testdata/fuzz/FuzzSIPRequest/"+name)
			req, tx := serveOne(t, sink, auth, inCall, data)
			if req == nil {
				t.Fatal("never reached the handlers")
			}
			got := 0
			if _, finals := tx.finals(); len(finals) == 1 {
				got = finals[0].StatusCode
			}
			if got != code {
				t.Fatalf("final answer %d, want %d", got, code)
			}
		})
	}
}

// readCorpusFile reads a FuzzSIPRequest corpus entry.
func readCorpusFile(t *testing.T, path string) (auth, inCall bool, data []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 4)
	if len(lines) < 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a corpus file", path)
	}
	q := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[3]), "[]byte("), ")")
	s, err := strconv.Unquote(q)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return lines[1] == "bool(true)", lines[2] == "bool(true)", []byte(s)
}
