package sipserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/sdp"
)

// ring is an INVITE of ours ringing the phone.
type ring struct {
	id       string
	stopOnce sync.Once
	stopCh   chan struct{}
	// reason is written before stopCh is closed and read after.
	reason string
}

func (r *ring) stop(reason string) {
	r.stopOnce.Do(func() {
		r.reason = reason
		close(r.stopCh)
	})
}

// Ring implements line.Signaller: it sends an INVITE to the line's contact
// and reports the outcome to the line owner.
func (s *Server) Ring(req line.RingRequest) {
	r := &ring{id: req.ID, stopCh: make(chan struct{})}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.cfg.Lines.RingEnded(req.ID, sipphone.RingFailed, "server shutting down")
		return
	}
	s.rings[req.ID] = r
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.rings, req.ID)
			s.mu.Unlock()
		}()
		s.runRing(req, r)
	}()
}

// CancelRing implements line.Signaller.
func (s *Server) CancelRing(id string) {
	s.mu.Lock()
	r := s.rings[id]
	s.mu.Unlock()
	if r != nil {
		r.stop("stopped")
	}
}

func (s *Server) runRing(rq line.RingRequest, r *ring) {
	log := s.log.With("line", rq.LineID, "ring_id", rq.ID)
	fail := func(detail string, args ...any) {
		log.Warn("ring failed", append([]any{"detail", detail}, args...)...)
		s.cfg.Lines.RingEnded(rq.ID, sipphone.RingFailed, detail)
	}
	target, err := parseURI(rq.Reg.Contact)
	if err != nil {
		fail("registered contact is not a SIP URI", "contact", rq.Reg.Contact)
		return
	}
	peerAP, err := netip.ParseAddrPort(rq.Reg.Source)
	if err != nil {
		fail("registered source is not an address", "source", rq.Reg.Source)
		return
	}
	peer := peerAP.Addr().Unmap()
	conn, err := s.cfg.Ports.Open()
	if err != nil {
		fail(err.Error())
		return
	}
	transport := rq.Reg.Transport
	local := s.localIP(peer)
	callID := sip.GenerateTagN(24) + "@sipphone"
	number := rq.CallerID.Number
	if number == "" {
		number = "sipphone"
	}
	d := &dialog{
		callID: callID, lineID: rq.LineID, log: log.With("call_id", callID),
		local:     sip.Uri{Scheme: "sip", User: number, Host: local.String()},
		localName: rq.CallerID.Name, localTag: sip.GenerateTagN(16),
		remote: sip.Uri{Scheme: "sip", User: rq.User, Host: target.Host},
		target: target, dest: rq.Reg.Source, transport: transport, peer: peer, rtp: conn,
		acked: make(chan struct{}),
	}
	invite := s.newInDialogRequest(d, sip.INVITE)
	invite.AppendHeader(s.contactHeader(peer, transport))
	if rq.AlertInfo != "" {
		invite.AppendHeader(sip.NewHeader("Alert-Info", rq.AlertInfo))
	}
	offer := sdp.Description{SessionID: uint64(time.Now().UnixNano()), Version: 1, Addr: local,
		Port: conn.LocalAddr().(*net.UDPAddr).Port, Codecs: sdp.OurCodecs(s.cfg.Codec), EventPT: 101, PTime: s.cfg.PTime}
	invite.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	invite.AppendHeader(sip.NewHeader("Allow", allowed))
	invite.SetBody(offer.Marshal())

	s.mu.Lock()
	s.dialogs[callID] = d
	s.mu.Unlock()
	ended := false
	defer func() {
		if !ended {
			s.endDialog(d)
		}
	}()

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	tx, err := s.cli.TransactionRequest(ctx, invite, prebuilt)
	if err != nil {
		fail("sending INVITE failed: " + err.Error())
		return
	}
	defer tx.Terminate()
	log.Info("INVITE sent", "contact", rq.Reg.Contact, "dest", rq.Reg.Source, "alert_info", rq.AlertInfo)

	timeout := time.NewTimer(rq.Timeout)
	defer timeout.Stop()
	stopCh := r.stopCh
	var (
		provisional bool   // a 1xx arrived: CANCEL may be sent (RFC 3261 9.1)
		cancelWhy   string // set once we decided to cancel
		cancelSent  bool
		giveUp      <-chan time.Time
	)
	sendCancel := func() {
		if cancelSent || !provisional {
			return
		}
		cancelSent = true
		s.sendCancel(invite, d)
		// The adapter must answer 487; if it never does, stop waiting.
		giveUp = time.After(64 * sip.T1)
	}
	// startCancel reports whether the ring is over already: before any
	// provisional answer no CANCEL may be sent, so we stop waiting at once.
	startCancel := func(why string) bool {
		if cancelWhy == "" {
			cancelWhy = why
		}
		stopCh, timeout = nil, nil
		if !provisional {
			log.Info("ring stopped before the adapter answered", "reason", why)
			s.cfg.Lines.RingEnded(rq.ID, cancelOutcome(cancelWhy), "the adapter had not answered the INVITE")
			return true
		}
		sendCancel()
		return false
	}
	for {
		var timeoutC <-chan time.Time
		if timeout != nil {
			timeoutC = timeout.C
		}
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				if res.StatusCode > 100 {
					provisional = true
					if t := res.To(); t != nil && t.Params.Has("tag") {
						d.remoteTag = t.Params.GetOr("tag", "")
					}
				}
				if cancelWhy != "" {
					sendCancel()
				}
			case res.IsSuccess():
				ended = true // ownership moves to the call
				s.answered(rq, d, invite, res, cancelWhy)
				return
			default:
				outcome, detail := ringOutcome(res.StatusCode, cancelWhy)
				log.Info("ring ended", "status", res.StatusCode, "reason", outcome)
				s.cfg.Lines.RingEnded(rq.ID, outcome, detail+fmt.Sprintf(" (%d %s)", res.StatusCode, res.Reason))
				return
			}
		case <-timeoutC:
			log.Info("ring timed out; cancelling")
			if startCancel(string(sipphone.RingTimeout)) {
				return
			}
		case <-stopCh:
			if startCancel(r.reason) {
				return
			}
		case <-tx.Done():
			if cancelWhy != "" {
				s.cfg.Lines.RingEnded(rq.ID, cancelOutcome(cancelWhy), "no final answer after CANCEL")
				return
			}
			fail("the adapter did not answer the INVITE", "err", tx.Err())
			return
		case <-giveUp:
			s.cfg.Lines.RingEnded(rq.ID, cancelOutcome(cancelWhy), "no 487 after CANCEL")
			return
		}
	}
}

func cancelOutcome(why string) sipphone.RingOutcome {
	if why == string(sipphone.RingTimeout) {
		return sipphone.RingTimeout
	}
	return sipphone.RingStopped
}

// ringOutcome maps a final non-2xx answer to a ring_stop reason.
func ringOutcome(code int, cancelWhy string) (sipphone.RingOutcome, string) {
	switch {
	case cancelWhy != "" && code == sip.StatusRequestTerminated:
		return cancelOutcome(cancelWhy), "cancelled"
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
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
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
	}()
}

// answered handles the 2xx to our INVITE: ACK it, then either the call is
// up (off_hook, answered) or, when we had already decided to stop the ring
// and the answer crossed our CANCEL, hang up at once.
func (s *Server) answered(rq line.RingRequest, d *dialog, invite *sip.Request, res *sip.Response, cancelWhy string) {
	if t := res.To(); t != nil {
		d.remoteTag = t.Params.GetOr("tag", "")
	}
	if c := res.Contact(); c != nil {
		d.target = c.Address
	}
	ack := s.newAck(d, invite)
	if err := s.cli.WriteRequest(ack, prebuilt); err != nil {
		d.log.Warn("sending ACK failed", "err", err)
	}
	d.setState(dialogConfirmed)
	if cancelWhy != "" {
		d.log.Info("answer crossed our CANCEL; hanging up")
		s.cfg.Lines.RingEnded(rq.ID, cancelOutcome(cancelWhy), "answered as the ring was stopped")
		s.bye(s.ctx, d)
		return
	}
	info := line.CallInfo{ID: d.callID, LocalRTP: d.rtp.LocalAddr().String()}
	if ans, err := sdp.Parse(res.Body()); err == nil {
		if neg, err := sdp.Negotiate(ans, s.cfg.Codec); err == nil {
			if neg.EventPT < 0 {
				neg.EventPT = -1
			}
			if err := s.startMedia(d, neg); err != nil {
				d.log.Error("starting media failed", "err", err)
			} else {
				info.Codec, info.RemoteRTP, info.EventPT, info.Media = neg.Codec.Name, neg.Remote.String(), neg.EventPT, d.media
			}
		}
	}
	if info.Codec == "" {
		d.log.Warn("answer has no usable SDP; hanging up", "body", strings.TrimSpace(string(res.Body())))
		s.cfg.Lines.RingEnded(rq.ID, sipphone.RingFailed, "answer without a usable codec")
		s.bye(s.ctx, d)
		return
	}
	local := netip.AddrPortFrom(s.localIP(d.peer), uint16(d.rtp.LocalAddr().(*net.UDPAddr).Port))
	info.LocalRTP = local.String()
	d.log.Info("ring answered", "codec", info.Codec, "remote_rtp", info.RemoteRTP)
	s.cfg.Lines.RingAnswered(rq.ID, info)
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
