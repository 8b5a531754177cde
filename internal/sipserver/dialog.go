package sipserver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone/internal/stream"
)

// dialogState follows RFC 3261 section 12: early until the 2xx, confirmed
// once acknowledged, ended after BYE.
type dialogState int

const (
	dialogEarly dialogState = iota
	dialogConfirmed
	dialogEnded
)

// dialog is one call's SIP dialog, in either direction. Its identity is the
// Call-ID with both tags; requests inside it go to the remote target, sent
// to the address the peer's messages came from (so NAT works).
type dialog struct {
	callID    string
	lineID    string
	incoming  bool // the phone called us
	log       *slog.Logger
	local     sip.Uri // our URI (From of our requests)
	localName string
	localTag  string
	remote    sip.Uri // the phone's URI (To of our requests)
	remoteTag string
	target    sip.Uri // remote target: the phone's Contact
	dest      string  // host:port to send in-dialog requests to
	transport string
	peer      netip.Addr
	rtp       *net.UDPConn
	media     *stream.Call  // running media once the call is up
	okRes     *sip.Response // our 2xx to an incoming INVITE, for retransmission
	acked     chan struct{} // closed when the ACK for our 2xx arrives

	// mu guards cseq and state.
	mu    sync.Mutex
	cseq  uint32
	state dialogState

	ackOnce sync.Once
}

func (d *dialog) confirmed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == dialogConfirmed
}

// setState moves the dialog forward; it reports false when the dialog was
// already in that state or beyond (so exactly one caller ends a dialog).
func (d *dialog) setState(st dialogState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state >= st {
		return false
	}
	d.state = st
	return true
}

func (d *dialog) nextCSeq() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cseq++
	return d.cseq
}

func (d *dialog) ack() {
	d.ackOnce.Do(func() { close(d.acked) })
}

// newInDialogRequest builds a request within the dialog (RFC 3261 12.2.1.1).
func (s *Server) newInDialogRequest(d *dialog, method sip.RequestMethod) *sip.Request {
	req := sip.NewRequest(method, *d.target.Clone())
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transportUpper(d.transport),
		Host: s.localIP(d.peer).String(), Port: s.port(d.transport), Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sip.FromHeader{DisplayName: d.localName, Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{Address: *d.remote.Clone(), Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.nextCSeq(), MethodName: method})
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.Name))
	req.SetTransport(transportUpper(d.transport))
	req.SetDestination(d.dest)
	s.setLaddr(req, d.transport)
	return req
}

// setLaddr makes UDP requests leave from our listening socket, so the
// adapter sees them come from the address it registered with.
func (s *Server) setLaddr(req *sip.Request, transport string) {
	if transportUpper(transport) == "UDP" && s.udp != nil {
		a := s.udp.LocalAddr().(*net.UDPAddr)
		req.Laddr = sip.Addr{IP: a.IP, Port: a.Port}
	}
}

func transportUpper(t string) string {
	if t == "tcp" || t == "TCP" {
		return "TCP"
	}
	return "UDP"
}

// prebuilt tells sipgo's client that the request is complete as it is.
func prebuilt(*sipgo.Client, *sip.Request) error { return nil }

// bye ends a confirmed dialog with BYE and waits (bounded by ctx) for the
// answer. It releases the call's RTP port.
func (s *Server) bye(ctx context.Context, d *dialog) {
	if !d.setState(dialogEnded) {
		return
	}
	defer s.endDialog(d)
	req := s.newInDialogRequest(d, sip.BYE)
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	tx, err := s.cli.TransactionRequest(ctx, req, prebuilt)
	if err != nil {
		d.log.Warn("sending BYE failed", "err", err)
		return
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			d.log.Debug("BYE answered", "status", res.StatusCode)
			return
		case <-tx.Done():
			d.log.Warn("BYE not answered", "err", tx.Err())
			return
		case <-ctx.Done():
			return
		}
	}
}

// endDialog forgets the dialog and releases its media.
func (s *Server) endDialog(d *dialog) {
	d.setState(dialogEnded)
	s.mu.Lock()
	if s.dialogs[d.callID] == d {
		delete(s.dialogs, d.callID)
	}
	s.mu.Unlock()
	if d.media != nil {
		d.media.Close()
	}
	s.cfg.Ports.Release(d.rtp)
}

// Hangup implements line.Signaller: it ends call id with BYE.
func (s *Server) Hangup(callID string) {
	s.mu.Lock()
	d := s.dialogs[callID]
	s.mu.Unlock()
	if d == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.waitAck(d)
		s.bye(s.ctx, d)
	}()
}

// waitAck waits, for an incoming call, until our 2xx is acknowledged (a
// UAS must not send BYE before; RFC 3261 section 15).
func (s *Server) waitAck(d *dialog) {
	if !d.incoming {
		return
	}
	t := time.NewTimer(64 * sip.T1)
	defer t.Stop()
	select {
	case <-d.acked:
	case <-t.C:
	case <-s.ctx.Done():
	}
}
