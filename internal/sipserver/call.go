package sipserver

import (
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dtmf/sipinfo"
	"github.com/sip-phone-api/sipphone/internal/sdp"
)

// onInvite answers a call placed by the phone: the handset was lifted (with
// Offhook Auto-Dial) or a number was dialed. It answers 180 then 200 with
// an SDP answer; the line owner decides whether the call may be taken,
// reserves its RTP port and starts its media.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	callID := headerValue(req, "Call-ID")
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReInvite(req, tx, callID)
		return
	}
	from := req.From()
	if from == nil || req.To() == nil || callID == "" {
		s.respond(tx, req, sip.StatusBadRequest, "Bad Request", nil)
		return
	}
	user := from.Address.User
	s.respond(tx, req, sip.StatusTrying, "Trying", nil)
	if !s.authenticate(req, tx, user) {
		return
	}
	if !s.cfg.Lines.IsLine(user) {
		// Policy before the body: a stranger learns nothing of our SDP rules.
		s.refuseCall(req, tx, "", sipphone.ErrLineNotFound)
		return
	}
	log := s.log.With("user", user, "call_id", callID)
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		log.Warn("INVITE without a usable SDP offer refused", "err", err)
		s.respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil, sip.NewHeader("Warning", `399 sipphone "`+err.Error()+`"`))
		return
	}
	neg, err := sdp.Negotiate(offer, s.cfg.Codec)
	if err != nil {
		log.Warn("no common codec; put PCMU or PCMA in the adapter's vocoder list", "offer", codecNames(offer))
		s.respond(tx, req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil, sip.NewHeader("Warning", `305 sipphone "Incompatible media format: PCMU or PCMA required"`))
		return
	}
	peer, _ := sourceAddr(req)
	d := &dialog{
		callID: callID, incoming: true, log: log,
		local: req.To().Address, localTag: sip.GenerateTagN(16),
		remote: from.Address, remoteTag: from.Params.GetOr("tag", ""),
		target: from.Address, dest: req.Source(), transport: strings.ToLower(req.Transport()), peer: peer,
		acked: make(chan struct{}), cseq: 1,
	}
	if c := req.Contact(); c != nil {
		d.target = c.Address
	}
	lineID, rtpPort, err := s.cfg.Lines.IncomingCall(sipphone.IncomingCall{User: user, CallID: callID, Dialed: req.Recipient.User, Dialog: d})
	if err != nil {
		s.refuseCall(req, tx, lineID, err)
		return
	}
	d.lineID = lineID
	d.log = s.log.With("line", lineID, "call_id", callID)
	s.answerCall(req, tx, d, neg, rtpPort)
}

// refuseCall answers an INVITE the line owner did not accept.
func (s *Server) refuseCall(req *sip.Request, tx sip.ServerTransaction, lineID string, err error) {
	switch {
	case errors.Is(err, sipphone.ErrLineNotFound):
		s.log.Warn("INVITE from a user that is not a line refused", "user", req.From().Address.User, "source", req.Source())
		s.respond(tx, req, sip.StatusForbidden, "Forbidden: not a line", nil)
	case errors.Is(err, sipphone.ErrNotRegistered):
		s.log.Warn("INVITE from a line that is not registered refused", "line", lineID, "source", req.Source())
		s.respond(tx, req, sip.StatusForbidden, "Forbidden: register first", nil)
	case errors.Is(err, sipphone.ErrLineBusy):
		s.respond(tx, req, sip.StatusBusyHere, "Busy Here", nil)
	case errors.Is(err, sipphone.ErrShuttingDown):
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable: shutting down", nil)
	case errors.Is(err, sipphone.ErrNoResources):
		s.log.Error("no RTP port free", "line", lineID, "err", err)
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable: no RTP port", nil)
	default:
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
	}
}

// answerCall rings back (180), then answers 200 with our SDP once the owner
// started the call's media, and retransmits the 200 until it is ACKed.
func (s *Server) answerCall(req *sip.Request, tx sip.ServerTransaction, d *dialog, neg sdp.Negotiated, rtpPort int) {
	lines, callID := s.cfg.Lines, d.callID
	local := s.localIP(d.peer)
	answer := sdp.Description{SessionID: uint64(time.Now().UnixNano()), Version: 1, Addr: local, Port: rtpPort,
		Codecs: []sdp.Codec{neg.Codec}, EventPT: neg.EventPT, PTime: neg.PTime}.Marshal()
	contact := s.contactHeader(d.peer, d.transport)
	ringing := s.dialogResponse(req, d, sip.StatusRinging, "Ringing", nil)
	ringing.AppendHeader(contact)
	if err := tx.Respond(ringing); err != nil {
		d.log.Warn("sending 180 failed", "err", err)
	}
	// CANCEL is answered by sipgo's transaction layer (200, then 487 to
	// the INVITE); we learn of it here.
	canceled := make(chan struct{})
	if !tx.OnCancel(func(*sip.Request) { close(canceled) }) {
		lines.CallEnded(callID, "cancel")
		return
	}
	p := negotiated(neg, d.peer, netip.AddrPortFrom(local, uint16(rtpPort)))
	if err := lines.CallAnswered(callID, p); err != nil {
		d.log.Error("cannot take the call", "err", err)
		lines.CallEnded(callID, "failed")
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	ok := s.dialogResponse(req, d, sip.StatusOK, "OK", answer)
	ok.AppendHeader(contact)
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ok.AppendHeader(sip.NewHeader("Allow", allowed))
	select {
	case <-canceled:
		lines.CallEnded(callID, "cancel")
		return
	default:
	}
	d.setOK(ok)
	if err := tx.Respond(ok); err != nil {
		d.log.Warn("sending 200 failed", "err", err)
		lines.CallEnded(callID, "failed")
		return
	}
	d.setState(dialogConfirmed)
	d.log.Info("answered call from phone", "dialed", req.Recipient.User, "codec", p.Codec, "rtp", p.Local, "remote_rtp", p.Remote)
	s.spawn(func() { s.retransmitOK(tx, d) })
}

// retransmitOK resends our 2xx until the ACK arrives (RFC 3261 13.3.1.4):
// at T1, doubling up to T2, for at most 64*T1, after which the call is
// ended with BYE.
func (s *Server) retransmitOK(tx sip.ServerTransaction, d *dialog) {
	interval := sip.T1
	timer := time.NewTimer(interval)
	defer timer.Stop()
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		select {
		case <-d.acked:
			return
		case <-tx.Acks():
			d.ack()
			return
		case <-timer.C:
			if err := tx.Respond(d.ok()); err != nil {
				// The transaction is gone; resend on the transport directly.
				s.srv.WriteResponse(d.ok())
			}
			interval = min(2*interval, sip.T2)
			timer.Reset(interval)
		case <-deadline.C:
			d.log.Warn("no ACK for our 200 OK; ending the call")
			s.cfg.Lines.ServerEndedCall(d.callID, "no_ack")
			s.bye(s.ctx, d)
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// dialogResponse builds a response carrying the dialog's local tag.
func (s *Server) dialogResponse(req *sip.Request, d *dialog, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil {
		to.Params.Add("tag", d.localTag)
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.Name))
	return res
}

// onReInvite answers an INVITE inside an existing dialog (hold, session
// refresh) by repeating our current answer.
func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction, callID string) {
	d := s.dialogOf(callID)
	if d == nil || !s.sameDialog(d, req) {
		s.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	body := []byte(nil)
	if ok := d.ok(); ok != nil {
		body = ok.Body()
	}
	res := s.dialogResponse(req, d, sip.StatusOK, "OK", body)
	res.AppendHeader(s.contactHeader(d.peer, d.transport))
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	tx.Respond(res)
}

// sameDialog checks the tags of an in-dialog request from the phone.
func (s *Server) sameDialog(d *dialog, req *sip.Request) bool {
	from, to := req.From(), req.To()
	if from == nil || to == nil {
		return false
	}
	return from.Params.GetOr("tag", "") == d.getRemoteTag() && to.Params.GetOr("tag", "") == d.localTag
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if d := s.dialogOf(headerValue(req, "Call-ID")); d != nil && d.incoming {
		d.ack()
	}
}

// onBye: the phone hung up (handset down).
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	callID := headerValue(req, "Call-ID")
	d := s.dialogOf(callID)
	if d == nil || !s.sameDialog(d, req) {
		s.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	s.respond(tx, req, sip.StatusOK, "OK", nil)
	d.ack() // a BYE implies the 2xx arrived
	if d.setState(dialogEnded) {
		s.cfg.Lines.CallEnded(callID, "bye")
	}
}

// onCancel answers a CANCEL that matched no INVITE transaction (those that
// match are handled by the transaction layer).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
}

// onInfo takes key presses and hook flash sent by SIP INFO.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	callID := headerValue(req, "Call-ID")
	d := s.dialogOf(callID)
	if d == nil || !s.sameDialog(d, req) {
		s.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(strings.Split(h.Value(), ";")[0]))
	}
	body := req.Body()
	if len(body) == 0 { // an empty INFO is a keep-alive
		s.respond(tx, req, sip.StatusOK, "OK", nil)
		return
	}
	p, err := sipinfo.Parse(ct, body)
	if err != nil {
		d.log.Warn("SIP INFO not understood", "content_type", ct, "err", err)
		if errors.Is(err, sipinfo.ErrUnsupported) {
			s.respond(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil, sip.NewHeader("Accept", sipinfo.Accept))
			return
		}
		s.respond(tx, req, sip.StatusBadRequest, "Bad Request: "+err.Error(), nil)
		return
	}
	s.respond(tx, req, sip.StatusOK, "OK", nil)
	s.cfg.Lines.KeyPressed(callID, p)
}

func codecNames(s *sdp.Session) string {
	var names []string
	for _, c := range s.Codecs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}
