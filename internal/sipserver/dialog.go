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

	"github.com/sip-phone-api/sipphone"
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
// to the address the peer's messages came from (so NAT works). The line
// owner keeps it with the call (it is the call's sipphone.Dialog) and hands
// it back; the server keeps no dialog table of its own.
//
// The fields above mu are set before the dialog is handed to the owner and
// never change; those below are guarded by mu.
type dialog struct {
	callID    string
	lineID    string
	incoming  bool // the phone called us
	log       *slog.Logger
	local     sip.Uri // our URI (From of our requests)
	localName string
	localTag  string
	remote    sip.Uri // the phone's URI (To of our requests)
	dest      string  // host:port to send in-dialog requests to
	transport string
	peer      netip.Addr
	acked     chan struct{} // closed when the ACK for our 2xx arrives
	cancel    chan struct{} // closed to stop our ring (CancelRing)

	// mu guards every field below.
	mu         sync.Mutex
	remoteTag  string
	target     sip.Uri       // remote target: the phone's Contact
	okRes      *sip.Response // our 2xx to an incoming INVITE, for retransmission
	cseq       uint32
	state      dialogState
	cancelWhy  sipphone.RingOutcome // why the ring was cancelled
	ackOnce    sync.Once
	cancelOnce sync.Once
}

// CallID implements sipphone.Dialog.
func (d *dialog) CallID() string { return d.callID }

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

// setRemote records the phone's tag and, when known, its Contact.
func (d *dialog) setRemote(tag string, target *sip.Uri) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if tag != "" {
		d.remoteTag = tag
	}
	if target != nil {
		d.target = *target
	}
}

func (d *dialog) getRemoteTag() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteTag
}

func (d *dialog) setOK(res *sip.Response) {
	d.mu.Lock()
	d.okRes = res
	d.mu.Unlock()
}

func (d *dialog) ok() *sip.Response {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.okRes
}

func (d *dialog) ack() {
	d.ackOnce.Do(func() { close(d.acked) })
}

// stopRing asks the ring goroutine to cancel; the first reason counts.
func (d *dialog) stopRing(why sipphone.RingOutcome) {
	d.cancelOnce.Do(func() {
		d.mu.Lock()
		d.cancelWhy = why
		d.mu.Unlock()
		close(d.cancel)
	})
}

func (d *dialog) cancelReason() sipphone.RingOutcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancelWhy
}

// newInDialogRequest builds a request within the dialog (RFC 3261 12.2.1.1).
func (s *Server) newInDialogRequest(d *dialog, method sip.RequestMethod) *sip.Request {
	d.mu.Lock()
	target, remoteTag := *d.target.Clone(), d.remoteTag
	d.cseq++
	cseq := d.cseq
	d.mu.Unlock()
	req := sip.NewRequest(method, target)
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
	if remoteTag != "" {
		to.Params.Add("tag", remoteTag)
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
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

// bye ends a confirmed dialog with BYE and waits (bounded by ctx and 32 s)
// for the answer.
func (s *Server) bye(ctx context.Context, d *dialog) {
	if !d.setState(dialogEnded) {
		return
	}
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
		case <-s.ctx.Done():
			return
		}
	}
}

// Hangup implements sipphone.Signaller: it ends the call with BYE, first
// waiting for the ACK of our 2xx when the phone called us.
func (s *Server) Hangup(ctx context.Context, sd sipphone.Dialog) {
	d, ok := sd.(*dialog)
	if !ok {
		return
	}
	s.waitAck(ctx, d)
	s.bye(ctx, d)
}

// CancelRing implements sipphone.Signaller.
func (s *Server) CancelRing(sd sipphone.Dialog, why sipphone.RingOutcome) {
	if d, ok := sd.(*dialog); ok && d.cancel != nil {
		d.stopRing(why)
	}
}

// waitAck waits, for an incoming call, until our 2xx is acknowledged (a
// UAS must not send BYE before; RFC 3261 section 15).
func (s *Server) waitAck(ctx context.Context, d *dialog) {
	if !d.incoming {
		return
	}
	t := time.NewTimer(64 * sip.T1)
	defer t.Stop()
	select {
	case <-d.acked:
	case <-t.C:
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
}

// dialogOf returns the dialog the owner keeps for callID, nil when none.
func (s *Server) dialogOf(callID string) *dialog {
	sd, ok := s.cfg.Lines.Dialog(callID)
	if !ok {
		return nil
	}
	d, _ := sd.(*dialog)
	return d
}
