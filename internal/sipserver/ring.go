package sipserver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/sdp"
)

// Ring implements sipphone.Signaller: it builds the dialog and INVITE for
// rq at once (no I/O) and sends the INVITE from a goroutine of the server,
// which reports the outcome to the line owner.
func (s *Server) Ring(rq sipphone.RingRequest) (sipphone.Dialog, error) {
	target, err := parseURI(rq.Reg.Contact)
	if err != nil {
		return nil, fmt.Errorf("registered contact %q is not a SIP URI", rq.Reg.Contact)
	}
	peerAP, err := netip.ParseAddrPort(rq.Reg.Source)
	if err != nil {
		return nil, fmt.Errorf("registered source %q is not an address", rq.Reg.Source)
	}
	peer := peerAP.Addr().Unmap()
	local := s.localIP(peer)
	number := rq.CallerID.Number
	if number == "" {
		number = "sipphone"
	}
	d := &dialog{
		callID: rq.CallID, lineID: rq.LineID, log: s.log.With("line", rq.LineID, "ring_id", rq.RingID, "call_id", rq.CallID),
		local:     sip.Uri{Scheme: "sip", User: number, Host: local.String()},
		localName: rq.CallerID.Name, localTag: sip.GenerateTagN(16),
		remote: sip.Uri{Scheme: "sip", User: rq.User, Host: target.Host},
		target: target, dest: rq.Reg.Source, transport: rq.Reg.Transport, peer: peer,
		acked: make(chan struct{}), cancel: make(chan struct{}),
	}
	invite := s.newInDialogRequest(d, sip.INVITE)
	invite.AppendHeader(s.contactHeader(peer, d.transport))
	if rq.AlertInfo != "" {
		invite.AppendHeader(sip.NewHeader("Alert-Info", rq.AlertInfo))
	}
	offer := sdp.Description{SessionID: uint64(time.Now().UnixNano()), Version: 1, Addr: local,
		Port: rq.RTPPort, Codecs: sdp.OurCodecs(s.cfg.Codec), EventPT: 101, PTime: s.cfg.PTime}
	invite.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	invite.AppendHeader(sip.NewHeader("Allow", allowed))
	invite.SetBody(offer.Marshal())
	if !s.spawn(func() { s.runRing(rq, d, invite) }) {
		return nil, fmt.Errorf("%w", sipphone.ErrShuttingDown)
	}
	return d, nil
}

// ringRun is the state of one ring's INVITE client transaction.
type ringRun struct {
	s           *Server
	rq          sipphone.RingRequest
	d           *dialog
	invite      *sip.Request
	provisional bool // a 1xx other than 100 arrived: CANCEL may be sent (RFC 3261 9.1)
	cancelWhy   sipphone.RingOutcome
	cancelSent  bool
	giveUp      <-chan time.Time
}

// runRing sends the INVITE and follows its transaction until the phone
// answers, refuses, or the ring is stopped or times out.
func (s *Server) runRing(rq sipphone.RingRequest, d *dialog, invite *sip.Request) {
	lines := s.cfg.Lines
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	tx, err := s.cli.TransactionRequest(ctx, invite, prebuilt)
	if err != nil {
		d.log.Warn("ring failed", "detail", "sending INVITE failed", "err", err)
		lines.RingEnded(rq.CallID, sipphone.RingFailed, "sending INVITE failed: "+err.Error())
		return
	}
	defer tx.Terminate()
	d.log.Info("INVITE sent", "contact", rq.Reg.Contact, "dest", rq.Reg.Source, "alert_info", rq.AlertInfo)
	lines.RingSent(rq.CallID)

	r := &ringRun{s: s, rq: rq, d: d, invite: invite}
	timeout := time.NewTimer(rq.Timeout)
	defer timeout.Stop()
	timeoutC, stopC := timeout.C, (<-chan struct{})(d.cancel)
	for {
		select {
		case res := <-tx.Responses():
			if done := r.response(res); done {
				return
			}
		case <-timeoutC:
			d.log.Info("ring timed out; cancelling")
			timeoutC, stopC = nil, nil
			if r.startCancel(sipphone.RingTimeout) {
				return
			}
		case <-stopC:
			timeoutC, stopC = nil, nil
			if r.startCancel(d.cancelReason()) {
				return
			}
		case <-tx.Done():
			if r.cancelWhy != "" {
				lines.RingEnded(rq.CallID, r.cancelWhy, "no final answer after CANCEL")
				return
			}
			d.log.Warn("ring failed", "detail", "the adapter did not answer the INVITE", "err", tx.Err())
			lines.RingEnded(rq.CallID, sipphone.RingFailed, "the adapter did not answer the INVITE")
			return
		case <-r.giveUp:
			detail := "no 487 after CANCEL"
			if !r.cancelSent {
				detail = "the adapter had not answered the INVITE"
			}
			lines.RingEnded(rq.CallID, r.cancelWhy, detail)
			return
		case <-s.ctx.Done():
			lines.RingEnded(rq.CallID, sipphone.RingStopped, "server shutting down")
			return
		}
	}
}

// response handles one answer to our INVITE; it reports whether the ring
// is over.
func (r *ringRun) response(res *sip.Response) bool {
	lines, rq, d := r.s.cfg.Lines, r.rq, r.d
	switch {
	case res.IsProvisional():
		if res.StatusCode > 100 {
			r.provisional = true
			if t := res.To(); t != nil {
				d.setRemote(t.Params.GetOr("tag", ""), nil)
			}
			if res.StatusCode == sip.StatusRinging || res.StatusCode == sip.StatusSessionInProgress {
				lines.RingProgress(rq.CallID)
			}
		}
		if r.cancelWhy != "" {
			r.sendCancel()
		}
		return false
	case res.IsSuccess():
		r.s.answered(rq, d, r.invite, res, r.cancelWhy)
		return true
	}
	outcome, detail := ringOutcome(res.StatusCode, r.cancelWhy)
	d.log.Info("ring ended", "status", res.StatusCode, "reason", outcome)
	lines.RingEnded(rq.CallID, outcome, fmt.Sprintf("%s (%d %s)", detail, res.StatusCode, res.Reason))
	return true
}

// cancelGrace is how long a ring stopped before any provisional answer
// waits for one: the INVITE may still reach the phone and make it ring,
// and no CANCEL may be sent before a 1xx (RFC 3261 9.1).
var cancelGrace = 2 * sip.T1

// startCancel decides to stop the ring: CANCEL now, or after the first
// provisional answer when it comes within cancelGrace. It reports whether
// the ring is over (never: the outcome comes from the phone or a timer).
func (r *ringRun) startCancel(why sipphone.RingOutcome) bool {
	if r.cancelWhy == "" {
		r.cancelWhy = why
	}
	if !r.provisional {
		r.d.log.Info("ring stop asked before the adapter answered; CANCEL follows its first provisional answer", "reason", why)
		r.giveUp = time.After(cancelGrace)
		return false
	}
	r.sendCancel()
	return false
}

func (r *ringRun) sendCancel() {
	if r.cancelSent || !r.provisional {
		return
	}
	r.cancelSent = true
	r.s.sendCancel(r.invite, r.d)
	// The adapter must answer 487; if it never does, stop waiting.
	r.giveUp = time.After(64 * sip.T1)
}

// ringOutcome maps a final non-2xx answer to a ring_stop reason.
func ringOutcome(code int, cancelWhy sipphone.RingOutcome) (sipphone.RingOutcome, string) {
	switch {
	case cancelWhy != "" && code == sip.StatusRequestTerminated:
		return cancelWhy, "cancelled"
	case code == sip.StatusBusyHere || code == 600:
		return sipphone.RingBusy, "the line is busy"
	case code == 603 || code == sip.StatusForbidden || code == sip.StatusRequestTerminated:
		return sipphone.RingRejected, "the adapter declined"
	case code == sip.StatusRequestTimeout || code == sip.StatusTemporarilyUnavailable:
		return sipphone.RingTimeout, "the adapter stopped ringing"
	}
	return sipphone.RingFailed, "the adapter refused the INVITE"
}

// sendCancel sends CANCEL for our INVITE (RFC 3261 9.1): same Request-URI,
// Call-ID, From, To and top Via branch, CSeq number with method CANCEL.
func (s *Server) sendCancel(invite *sip.Request, d *dialog) {
	c := sip.NewRequest(sip.CANCEL, *invite.Recipient.Clone())
	c.AppendHeader(sip.HeaderClone(invite.Via()))
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.AppendHeader(sip.HeaderClone(invite.From()))
	c.AppendHeader(sip.HeaderClone(invite.To()))
	c.AppendHeader(sip.HeaderClone(invite.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.SetTransport(invite.Transport())
	c.SetDestination(invite.Destination())
	s.setLaddr(c, d.transport)
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.ctx, 32*time.Second)
		defer cancel()
		tx, err := s.cli.TransactionRequest(ctx, c, prebuilt)
		if err != nil {
			d.log.Warn("sending CANCEL failed", "err", err)
			return
		}
		defer tx.Terminate()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-ctx.Done():
		}
	})
}

// answered handles the 2xx to our INVITE: ACK it, then either the call is
// up (the owner starts its media) or, when we had already decided to stop
// the ring and the answer crossed our CANCEL, hang up at once.
func (s *Server) answered(rq sipphone.RingRequest, d *dialog, invite *sip.Request, res *sip.Response, cancelWhy sipphone.RingOutcome) {
	lines := s.cfg.Lines
	tag := ""
	if t := res.To(); t != nil {
		tag = t.Params.GetOr("tag", "")
	}
	var target *sip.Uri
	if c := res.Contact(); c != nil {
		target = &c.Address
	}
	d.setRemote(tag, target)
	ack := s.newAck(d, invite)
	if err := s.cli.WriteRequest(ack, prebuilt); err != nil {
		d.log.Warn("sending ACK failed", "err", err)
	}
	d.setState(dialogConfirmed)
	if cancelWhy != "" {
		d.log.Info("answer crossed our CANCEL; hanging up")
		lines.RingEnded(rq.CallID, cancelWhy, "answered as the ring was stopped")
		s.bye(s.ctx, d)
		return
	}
	p, ok := s.mediaParams(res.Body(), d.peer, rq.RTPPort)
	if !ok {
		d.log.Warn("answer has no usable SDP; hanging up", "body", strings.TrimSpace(string(res.Body())))
		lines.RingEnded(rq.CallID, sipphone.RingFailed, "the answer has no usable codec (PCMU or PCMA)")
		s.bye(s.ctx, d)
		return
	}
	if err := lines.CallAnswered(rq.CallID, p); err != nil {
		d.log.Error("call answered but cannot start", "err", err)
		lines.RingEnded(rq.CallID, sipphone.RingFailed, err.Error())
		s.bye(s.ctx, d)
		return
	}
	d.log.Info("ring answered", "codec", p.Codec, "remote_rtp", p.Remote)
}

// mediaParams reads the phone's SDP answer into the call's media
// parameters.
func (s *Server) mediaParams(body []byte, peer netip.Addr, rtpPort int) (sipphone.MediaParams, bool) {
	ans, err := sdp.Parse(body)
	if err != nil {
		return sipphone.MediaParams{}, false
	}
	neg, err := sdp.Negotiate(ans, s.cfg.Codec)
	if err != nil {
		return sipphone.MediaParams{}, false
	}
	return negotiated(neg, peer, netip.AddrPortFrom(s.localIP(peer), uint16(rtpPort))), true
}

// negotiated turns an SDP negotiation into media parameters.
func negotiated(neg sdp.Negotiated, peer netip.Addr, local netip.AddrPort) sipphone.MediaParams {
	ev := neg.EventPT
	if ev < 0 {
		ev = -1
	}
	return sipphone.MediaParams{Codec: neg.Codec.Name, PT: neg.Codec.PT, EventPT: ev,
		PTime: time.Duration(neg.PTime) * time.Millisecond, Remote: neg.Remote, Peer: peer, Local: local}
}

// newAck builds the ACK for a 2xx (RFC 3261 13.2.2.4): a new transaction
// with the INVITE's CSeq number, sent to the remote target.
func (s *Server) newAck(d *dialog, invite *sip.Request) *sip.Request {
	ack := s.newInDialogRequest(d, sip.ACK)
	ack.ReplaceHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.ACK})
	return ack
}

func parseURI(s string) (sip.Uri, error) {
	var u sip.Uri
	err := sip.ParseUri(s, &u)
	return u, err
}
