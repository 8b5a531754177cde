package sipserver

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/sdp"
	"github.com/sip-phone-api/sipphone/internal/stream"
)

// onInvite answers a call placed by the phone: the handset was lifted (with
// Offhook Auto-Dial) or a number was dialed. It answers 180 then 200 with
// an SDP answer, and reports off_hook (and dialed) to the line owner.
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
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable: shutting down", nil)
		return
	}
	lineID, err := s.cfg.Lines.AcceptPhoneCall(user)
	switch {
	case errors.Is(err, sipphone.ErrLineNotFound):
		s.log.Warn("INVITE from a user that is not a line refused", "user", user, "source", req.Source())
		s.respond(tx, req, sip.StatusForbidden, "Forbidden: not a line", nil)
		return
	case errors.Is(err, sipphone.ErrNotRegistered):
		s.log.Warn("INVITE from a line that is not registered refused", "line", lineID, "source", req.Source())
		s.respond(tx, req, sip.StatusForbidden, "Forbidden: register first", nil)
		return
	case errors.Is(err, sipphone.ErrLineBusy):
		s.respond(tx, req, sip.StatusBusyHere, "Busy Here", nil)
		return
	case err != nil:
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	log := s.log.With("line", lineID, "call_id", callID)

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
	conn, err := s.cfg.Ports.Open()
	if err != nil {
		log.Error("no RTP port free", "err", err)
		s.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable: no RTP port", nil)
		return
	}
	peer, _ := sourceAddr(req)
	transport := strings.ToLower(req.Transport())
	local := s.localIP(peer)
	rtpPort := conn.LocalAddr().(*net.UDPAddr).Port
	answer := sdp.Description{SessionID: uint64(time.Now().UnixNano()), Version: 1, Addr: local, Port: rtpPort,
		Codecs: []sdp.Codec{neg.Codec}, EventPT: neg.EventPT, PTime: neg.PTime}.Marshal()

	d := &dialog{
		callID: callID, lineID: lineID, incoming: true, log: log,
		local: req.To().Address, localTag: sip.GenerateTagN(16),
		remote: from.Address, remoteTag: from.Params.GetOr("tag", ""),
		target: from.Address, dest: req.Source(), transport: transport, peer: peer,
		rtp: conn, acked: make(chan struct{}),
		cseq: 1,
	}
	if c := req.Contact(); c != nil {
		d.target = c.Address
	}
	s.mu.Lock()
	if s.dialogs[callID] != nil {
		s.mu.Unlock()
		s.cfg.Ports.Release(conn)
		s.respond(tx, req, sip.StatusLoopDetected, "Loop Detected", nil)
		return
	}
	s.dialogs[callID] = d
	s.mu.Unlock()

	contact := s.contactHeader(peer, transport)
	ringing := s.dialogResponse(req, d, sip.StatusRinging, "Ringing", nil)
	ringing.AppendHeader(contact)
	if err := tx.Respond(ringing); err != nil {
		log.Warn("sending 180 failed", "err", err)
	}
	// CANCEL is answered by sipgo's transaction layer (200, then 487 to
	// the INVITE); we learn of it here.
	canceled := make(chan struct{})
	if !tx.OnCancel(func(*sip.Request) { close(canceled) }) {
		s.endDialog(d)
		s.cfg.Lines.CallEnded(callID, "cancel")
		return
	}
	if err := s.startMedia(d, neg); err != nil {
		log.Error("starting media failed", "err", err)
		s.endDialog(d)
		s.respond(tx, req, sip.StatusInternalServerError, "Internal Server Error", nil)
		return
	}
	info := line.CallInfo{ID: callID, Dialed: req.Recipient.User, Codec: neg.Codec.Name, Media: d.media,
		LocalRTP: netip.AddrPortFrom(local, uint16(rtpPort)).String(), RemoteRTP: neg.Remote.String(), EventPT: neg.EventPT}
	if err := s.cfg.Lines.PhoneCallStarted(lineID, info); err != nil {
		s.endDialog(d)
		s.respond(tx, req, sip.StatusBusyHere, "Busy Here", nil)
		return
	}
	ok := s.dialogResponse(req, d, sip.StatusOK, "OK", answer)
	ok.AppendHeader(contact)
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ok.AppendHeader(sip.NewHeader("Allow", allowed))
	select {
	case <-canceled:
		s.endDialog(d)
		s.cfg.Lines.CallEnded(callID, "cancel")
		return
	default:
	}
	d.okRes = ok
	if err := tx.Respond(ok); err != nil {
		log.Warn("sending 200 failed", "err", err)
		s.endDialog(d)
		s.cfg.Lines.CallEnded(callID, "failed")
		return
	}
	d.setState(dialogConfirmed)
	log.Info("answered call from phone", "dialed", req.Recipient.User, "codec", neg.Codec.Name, "rtp", info.LocalRTP, "remote_rtp", info.RemoteRTP)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.retransmitOK(tx, d)
	}()
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
			if err := tx.Respond(d.okRes); err != nil {
				// The transaction is gone; resend on the transport directly.
				s.srv.WriteResponse(d.okRes)
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
	s.mu.Lock()
	d := s.dialogs[callID]
	s.mu.Unlock()
	if d == nil || !s.sameDialog(d, req) {
		s.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	body := []byte(nil)
	if d.okRes != nil {
		body = d.okRes.Body()
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
	return from.Params.GetOr("tag", "") == d.remoteTag && to.Params.GetOr("tag", "") == d.localTag
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	s.mu.Lock()
	d := s.dialogs[headerValue(req, "Call-ID")]
	s.mu.Unlock()
	if d != nil && d.incoming {
		d.ack()
	}
}

// onBye: the phone hung up (handset down).
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	callID := headerValue(req, "Call-ID")
	s.mu.Lock()
	d := s.dialogs[callID]
	s.mu.Unlock()
	if d == nil || !s.sameDialog(d, req) {
		s.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
		return
	}
	s.respond(tx, req, sip.StatusOK, "OK", nil)
	d.ack() // a BYE implies the 2xx arrived
	if d.setState(dialogEnded) {
		s.endDialog(d)
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
	s.mu.Lock()
	d := s.dialogs[callID]
	s.mu.Unlock()
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
	ev, err := parseInfo(ct, body)
	if err != nil {
		d.log.Warn("SIP INFO not understood", "content_type", ct, "err", err)
		if errors.Is(err, errUnsupportedInfo) {
			s.respond(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil,
				sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf, application/hook-flash"))
			return
		}
		s.respond(tx, req, sip.StatusBadRequest, "Bad Request: "+err.Error(), nil)
		return
	}
	s.respond(tx, req, sip.StatusOK, "OK", nil)
	p := stream.Press{Digit: ev.Digit, Flash: ev.Type == sipphone.EventFlash, Method: "sip_info"}
	if ev.DurationMS != nil {
		p.Duration = time.Duration(*ev.DurationMS) * time.Millisecond
	}
	s.cfg.Lines.RecordPress(d.lineID, d.callID, p)
}

var errUnsupportedInfo = errors.New("unsupported INFO content type")

// parseInfo reads a DTMF or hook-flash INFO body.
func parseInfo(ct string, body []byte) (sipphone.Event, error) {
	if len(body) > 1024 {
		return sipphone.Event{}, errors.New("body too large")
	}
	fields := map[string]string{}
	for _, ln := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '\n' || r == '\r' }) {
		k, v, _ := strings.Cut(ln, "=")
		fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	flash := sipphone.Event{Type: sipphone.EventFlash, Method: "sip_info"}
	switch ct {
	case "application/hook-flash":
		if strings.EqualFold(fields["signal"], "hf") || fields["signal"] == "16" {
			return flash, nil
		}
		return sipphone.Event{}, errors.New("hook-flash body without signal=hf")
	case "application/dtmf-relay":
		sig, ok := fields["signal"]
		if !ok {
			return sipphone.Event{}, errors.New("dtmf-relay body without Signal=")
		}
		if sig == "16" || strings.EqualFold(sig, "hf") || sig == "!" {
			return flash, nil
		}
		digit, ok := normalizeDigit(sig)
		if !ok {
			return sipphone.Event{}, errors.New("unknown DTMF signal " + strconv.Quote(sig))
		}
		ev := sipphone.Event{Type: sipphone.EventDTMF, Digit: digit, Method: "sip_info"}
		if v, err := strconv.Atoi(fields["duration"]); err == nil && v >= 0 && v < 60000 {
			ev.DurationMS = &v
		}
		return ev, nil
	case "application/dtmf":
		sig := strings.TrimSpace(string(body))
		if sig == "16" || sig == "!" {
			return flash, nil
		}
		digit, ok := normalizeDigit(sig)
		if !ok {
			return sipphone.Event{}, errors.New("unknown DTMF signal " + strconv.Quote(sig))
		}
		return sipphone.Event{Type: sipphone.EventDTMF, Digit: digit, Method: "sip_info"}, nil
	}
	return sipphone.Event{}, errUnsupportedInfo
}

// normalizeDigit maps a signal to one of 0-9 * # A-D (10 and 11 are the
// event codes of * and #, RFC 4733 section 3.2).
func normalizeDigit(s string) (string, bool) {
	switch {
	case len(s) == 1 && strings.ContainsAny(s, "0123456789*#ABCDabcd"):
		return strings.ToUpper(s), true
	case s == "10":
		return "*", true
	case s == "11":
		return "#", true
	case s == "12", s == "13", s == "14", s == "15":
		return string(rune('A' + (s[1] - '2'))), true
	}
	return "", false
}

func codecNames(s *sdp.Session) string {
	var names []string
	for _, c := range s.Codecs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}
