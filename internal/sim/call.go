package sim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// call is the one call a line may have. Fields marked "l.mu" are guarded by
// the line's mutex; the others are set before the call is shared.
type call struct {
	outgoing bool
	callID   string

	state  string // l.mu: StateCalling, StateRinging or StateInCall
	ended  bool   // l.mu
	byUser bool   // l.mu: a person holds the handset (not auto-answer)
	// byeEarly (l.mu) records a BYE that overtook the call's set-up (the
	// ACK of our 200, or our own ACK): sipgo handles requests concurrently.
	// The set-up path finishes first so that events keep their order.
	byeEarly bool
	uac      *sipgo.DialogClientSession // l.mu: our INVITE's dialog, once sent
	uas      *sipgo.DialogServerSession // l.mu: the server's INVITE's dialog
	media    *media                     // l.mu
	teOK     bool                       // l.mu: telephone-event negotiated
	sdp      sdpParams                  // l.mu: our side of the session, for re-INVITEs

	// Outgoing calls.
	cancel   context.CancelFunc // abandons the INVITE: CANCEL
	dialDone chan struct{}      // closed when dial returns

	// Incoming calls.
	answerReq chan chan error // Answer asks the ringing handler to pick up
	ringDone  chan struct{}   // closed when the line stops ringing
}

// endReason says how a call ended, which decides the handset afterwards.
type endReason int

const (
	endLocal   endReason = iota // the handset was put down, or nothing was ever lifted
	endServer                   // the server hung up: a person still holds the handset
	endRefused                  // our INVITE was refused: the person hears busy tone
)

// endCall retires c and stops its media. It reports false if c had already
// ended, so that exactly one path publishes the end.
func (l *line) endCall(c *call, why endReason) bool {
	l.mu.Lock()
	if c.ended {
		l.mu.Unlock()
		return false
	}
	c.ended = true
	if l.call == c {
		l.call = nil
	}
	l.lifted = why != endLocal && c.byUser
	m := c.media
	l.mu.Unlock()
	if m != nil {
		m.close()
	}
	return true
}

func randomSessionID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 34 // small enough to read, like the adapter's
}

// dial runs an outgoing call until it is up or has failed.
func (l *line) dial(ctx context.Context, number string) error {
	l.mu.Lock()
	if l.call != nil {
		l.mu.Unlock()
		return ErrLineBusy
	}
	cctx, cancel := context.WithCancel(ctx)
	c := &call{outgoing: true, state: StateCalling, byUser: true, cancel: cancel, dialDone: make(chan struct{})}
	c.callID = randomHex(8) + "@" + l.ip.String()
	l.call = c
	l.lifted = false
	l.mu.Unlock()
	defer close(c.dialDone)
	defer cancel()

	m, err := newMedia(l.ip, l.log)
	if err != nil {
		l.endCall(c, endLocal)
		return err
	}
	params := sdpParams{
		user: l.cfg.User, sessID: randomSessionID(), addr: l.ip, port: m.port(),
		formats: []uint8{ptPCMU, ptPCMA}, te: l.cfg.TelephoneEventPT, withTE: true,
	}
	l.mu.Lock()
	c.media, c.sdp = m, params
	l.mu.Unlock()

	req := l.newRequest(sip.INVITE, l.serverURI(number))
	req.AppendHeader(l.fromHeader())
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: l.serverHost}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(l.contact.Clone())
	req.AppendHeader(sip.NewHeader("Allow", allowHeader))
	req.AppendHeader(sip.NewHeader("Supported", "replaces"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(buildSDP(params))

	sess, err := l.dua.WriteInvite(cctx, req)
	if err != nil {
		l.endCall(c, endLocal)
		return fmt.Errorf("invite: %w", err)
	}
	l.mu.Lock()
	c.uac = sess
	l.mu.Unlock()

	err = sess.WaitAnswer(cctx, sipgo.AnswerOptions{
		Username: l.cfg.AuthUser,
		Password: l.cfg.Password,
		OnResponse: func(r *sip.Response) error {
			if r.StatusCode == 180 || r.StatusCode == 183 {
				l.p.emit(Event{Line: l.idx, Type: EventRingback, Status: r.StatusCode})
			}
			return nil
		},
	})
	var refused *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &refused):
		code, reason := refused.Res.StatusCode, refused.Res.Reason
		if l.endCall(c, endRefused) {
			l.p.emit(Event{Line: l.idx, Type: EventCallFailed, Status: code})
		}
		return &StatusError{Method: "INVITE", Code: code, Reason: reason}
	case err != nil:
		// Abandoned (CANCEL sent) or the transaction failed. A 200 that
		// crossed our CANCEL still needs its ACK and a BYE.
		if res := sess.InviteResponse; res != nil && res.IsSuccess() && cctx.Err() != nil && !l.down.Load() {
			qctx, qcancel := context.WithTimeout(context.Background(), quietTimeout)
			if sess.Ack(qctx) == nil {
				_ = l.bye(qctx, c)
			}
			qcancel()
		}
		l.endCall(c, endLocal)
		if ctx.Err() == nil && cctx.Err() != nil {
			return fmt.Errorf("call abandoned: %w", context.Canceled)
		}
		return fmt.Errorf("invite: %w", err)
	}

	answer, err := parseSDP(sess.InviteResponse.Body())
	var pt uint8
	if err == nil {
		pt, err = answer.codec()
	}
	if l.down.Load() {
		l.endCall(c, endLocal)
		return ErrClosed
	}
	if ackErr := sess.Ack(cctx); ackErr != nil {
		l.endCall(c, endLocal)
		return fmt.Errorf("ack: %w", ackErr)
	}
	if err != nil {
		// Unusable answer: the adapter acknowledges and hangs up.
		_ = l.bye(cctx, c)
		l.endCall(c, endLocal)
		return fmt.Errorf("answer sdp: %w", err)
	}
	te, teOK := answer.telephoneEvent()

	l.mu.Lock()
	if c.ended || cctx.Err() != nil {
		ended := c.ended
		l.mu.Unlock()
		if ended {
			return fmt.Errorf("call ended by server: %w", errCallEnded)
		}
		qctx, qcancel := context.WithTimeout(context.Background(), quietTimeout)
		_ = l.bye(qctx, c)
		qcancel()
		l.endCall(c, endLocal)
		return fmt.Errorf("call abandoned: %w", context.Canceled)
	}
	c.state, c.teOK = StateInCall, teOK
	c.sdp.formats = []uint8{pt}
	early := c.byeEarly
	l.mu.Unlock()

	l.startMedia(m, answer, pt, te, teOK)
	l.log.Info("call established", "number", number, "codec", answer.codecName(pt))
	l.p.emit(Event{Line: l.idx, Type: EventCallEstablished, Status: sess.InviteResponse.StatusCode})
	if early {
		l.serverHungUp(c)
	}
	return nil
}

// serverHungUp ends c after the server's BYE was answered.
func (l *line) serverHungUp(c *call) {
	if l.endCall(c, endServer) {
		l.log.Info("hung up by server")
		l.p.emit(Event{Line: l.idx, Type: EventHangupByServer})
	}
}

// startMedia resets the received-audio record and starts the RTP streams.
func (l *line) startMedia(m *media, remote *mediaDesc, pt, te uint8, teOK bool) {
	tePT := -1
	if teOK {
		tePT = int(te)
	}
	l.rx.reset(tePT, remote.codecName(pt), m.localAddr(), remote.addr.String(), &m.sent)
	m.start(remote.addr, pt, te, &l.src, &l.rx)
}

// dialog is what both sides of a SIP dialog offer for in-dialog requests.
type dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteBye(ctx context.Context, req *sip.Request) error
}

// dialog returns c's dialog and its remote target (the peer's Contact).
func (l *line) dialog(c *call) (dialog, sip.Uri, error) {
	l.mu.Lock()
	uac, uas := c.uac, c.uas
	l.mu.Unlock()
	switch {
	case uac != nil && uac.InviteResponse != nil:
		target := uac.InviteRequest.Recipient
		if ct := uac.InviteResponse.Contact(); ct != nil {
			target = ct.Address
		}
		return uac, target, nil
	case uas != nil:
		return uas, uas.InviteRequest.Contact().Address, nil
	}
	return nil, sip.Uri{}, ErrNoCall
}

// bye sends BYE within c's dialog.
func (l *line) bye(ctx context.Context, c *call) error {
	if l.down.Load() {
		return ErrClosed
	}
	d, target, err := l.dialog(c)
	if err != nil {
		return err
	}
	if err := d.WriteBye(ctx, l.newRequest(sip.BYE, target)); err != nil {
		return fmt.Errorf("bye: %w", err)
	}
	return nil
}

// onHook puts the handset down.
func (l *line) onHook(ctx context.Context) error {
	l.mu.Lock()
	c := l.call
	if c == nil {
		l.lifted = false
		l.mu.Unlock()
		return nil
	}
	state := c.state
	l.mu.Unlock()
	switch state {
	case StateRinging:
		return nil // the handset is already down while it rings
	case StateCalling:
		c.cancel()
		select {
		case <-c.dialDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := l.bye(ctx, c)
	l.endCall(c, endLocal)
	return err
}

// hangupQuietly ends the line's call for Close, bounded in time and
// without events.
func (l *line) hangupQuietly() {
	l.mu.Lock()
	c := l.call
	var state string
	if c != nil {
		state = c.state
	}
	l.mu.Unlock()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), quietTimeout)
	defer cancel()
	switch state {
	case StateCalling:
		c.cancel()
		select {
		case <-c.dialDone:
		case <-ctx.Done():
		}
	case StateRinging:
		select { // the ringing handler refuses the call on closing
		case <-c.ringDone:
		case <-ctx.Done():
		}
	default:
		_ = l.bye(ctx, c)
		l.endCall(c, endLocal)
	}
}

// onInvite rings the line for a new INVITE, or answers a re-INVITE.
func (l *line) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		l.onReinvite(req, tx)
		return
	}
	_ = tx.Respond(l.response(req, 100, "Trying", nil))

	offer, err := parseSDP(req.Body())
	if err == nil {
		_, err = offer.codec()
	}
	if err != nil {
		l.log.Info("refusing call: unusable offer", "err", err)
		_ = tx.Respond(l.response(req, 488, "Not Acceptable Here", nil))
		return
	}
	te, teOK := offer.telephoneEvent()

	l.mu.Lock()
	if l.call != nil || l.lifted || l.mode == AnswerBusy || l.p.isClosing() {
		l.mu.Unlock()
		_ = tx.Respond(l.response(req, 486, "Busy Here", nil))
		return
	}
	mode, delay := l.mode, l.delay
	c := &call{state: StateRinging, answerReq: make(chan chan error), ringDone: make(chan struct{}), teOK: teOK}
	if cid := req.CallID(); cid != nil {
		c.callID = cid.Value()
	}
	l.call = c
	l.mu.Unlock()

	sess, err := l.dua.ReadInvite(req, tx)
	if err != nil {
		close(c.ringDone)
		l.endCall(c, endLocal)
		_ = tx.Respond(l.response(req, 400, "Bad Request", nil))
		return
	}
	l.mu.Lock()
	c.uas = sess
	l.mu.Unlock()
	ua := sip.NewHeader("User-Agent", l.p.cfg.UserAgent)
	if err := sess.Respond(180, "Ringing", nil, ua); err != nil {
		close(c.ringDone)
		l.endCall(c, endLocal)
		return
	}

	ev := Event{Line: l.idx, Type: EventRinging}
	if from := req.From(); from != nil {
		ev.CallerName = strings.Trim(from.DisplayName, `"`)
		ev.CallerNumber = from.Address.User
	}
	if h := req.GetHeader("Alert-Info"); h != nil {
		ev.AlertInfo = h.Value()
	}
	l.log.Info("ringing", "caller", ev.CallerNumber, "name", ev.CallerName, "alert_info", ev.AlertInfo)
	l.p.emit(ev)

	var autoC <-chan time.Time
	if mode == AnswerAuto || mode == AnswerReject {
		t := time.NewTimer(delay)
		defer t.Stop()
		autoC = t.C
	}
	ringTimeout := time.NewTimer(l.p.cfg.RingTimeout)
	defer ringTimeout.Stop()

	select {
	case <-sess.Context().Done():
		// CANCEL: the transaction layer answered 200 and 487.
		close(c.ringDone)
		if l.endCall(c, endLocal) && !l.p.isClosing() {
			l.p.emit(Event{Line: l.idx, Type: EventCancelled, Status: 487})
		}
	case reply := <-c.answerReq:
		close(c.ringDone)
		reply <- l.answerIncoming(c, sess, offer, te, true)
	case <-autoC:
		close(c.ringDone)
		if mode == AnswerReject {
			_ = sess.Respond(603, "Decline", nil, ua)
			l.endCall(c, endLocal)
			return
		}
		if err := l.answerIncoming(c, sess, offer, te, false); err != nil {
			l.log.Info("auto-answer failed", "err", err)
		}
	case <-ringTimeout.C:
		close(c.ringDone)
		_ = sess.Respond(480, "Temporarily Unavailable", nil, ua)
		if l.endCall(c, endLocal) {
			l.p.emit(Event{Line: l.idx, Type: EventRingTimeout, Status: 480})
		}
	case <-l.p.closing:
		close(c.ringDone)
		_ = sess.Respond(480, "Temporarily Unavailable", nil, ua)
		l.endCall(c, endLocal)
	}
}

// answerIncoming picks up a ringing call: 200 OK with the SDP answer (the
// first offered codec the adapter has, plus telephone-event if offered),
// then media, once the ACK arrived.
func (l *line) answerIncoming(c *call, sess *sipgo.DialogServerSession, offer *mediaDesc, te uint8, byUser bool) error {
	pt, _ := offer.codec()
	m, err := newMedia(l.ip, l.log)
	if err != nil {
		_ = sess.Respond(500, "Server Internal Error", nil)
		l.endCall(c, endLocal)
		return err
	}
	l.mu.Lock()
	teOK := c.teOK
	params := sdpParams{
		user: l.cfg.User, sessID: randomSessionID(), addr: l.ip, port: m.port(),
		formats: []uint8{pt}, te: te, withTE: teOK,
	}
	c.media, c.byUser, c.sdp = m, byUser, params
	ended := c.ended
	l.mu.Unlock()
	if ended {
		m.close()
		return errCallEnded
	}

	// The adapter's audio starts with the answer.
	l.startMedia(m, offer, pt, te, teOK)
	res := sip.NewSDPResponseFromRequest(sess.InviteRequest, buildSDP(params))
	res.AppendHeader(sip.NewHeader("User-Agent", l.p.cfg.UserAgent))
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	err = sess.WriteResponse(res)
	l.mu.Lock()
	early := c.byeEarly
	l.mu.Unlock()
	if err != nil && !early {
		// Cancelled meanwhile, or no ACK: RFC 3261 section 13.3.1.4 ends a
		// session whose 2xx was never acknowledged with BYE.
		if st := sess.LoadState(); st >= sip.DialogStateEstablished && st != sip.DialogStateEnded {
			ctx, cancel := context.WithTimeout(context.Background(), quietTimeout)
			_ = l.bye(ctx, c)
			cancel()
		}
		l.endCall(c, endLocal)
		return fmt.Errorf("answer: %w", err)
	}
	l.mu.Lock()
	if c.ended {
		l.mu.Unlock()
		return errCallEnded
	}
	c.state = StateInCall
	early = c.byeEarly
	l.mu.Unlock()
	l.log.Info("answered", "by_user", byUser)
	l.p.emit(Event{Line: l.idx, Type: EventAnswered, Status: 200})
	if early {
		l.serverHungUp(c)
	}
	return nil
}

// answerRinging is the person lifting the handset of a ringing line.
func (l *line) answerRinging(ctx context.Context) error {
	l.mu.Lock()
	c := l.call
	ok := c != nil && !c.outgoing && c.state == StateRinging
	l.mu.Unlock()
	if !ok {
		return ErrNotRinging
	}
	reply := make(chan error, 1)
	select {
	case c.answerReq <- reply:
	case <-c.ringDone:
		return ErrNotRinging
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onReinvite answers a target refresh or media change in the current call
// with the same session, following a changed RTP address.
func (l *line) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	l.mu.Lock()
	c := l.call
	var m *media
	var params sdpParams
	ok := c != nil && req.CallID() != nil && c.callID == req.CallID().Value() && c.media != nil
	if ok {
		c.sdp.version++
		m, params = c.media, c.sdp
	}
	l.mu.Unlock()
	if !ok {
		_ = tx.Respond(l.response(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if len(req.Body()) > 0 {
		offer, err := parseSDP(req.Body())
		if err != nil {
			_ = tx.Respond(l.response(req, 488, "Not Acceptable Here", nil))
			return
		}
		m.setRemote(offer.addr)
		l.rx.setRemote(offer.addr.String())
	}
	res := sip.NewSDPResponseFromRequest(req, buildSDP(params))
	res.AppendHeader(sip.NewHeader("User-Agent", l.p.cfg.UserAgent))
	res.AppendHeader(l.contact.Clone())
	_ = tx.Respond(res)
}

func (l *line) onAck(req *sip.Request, tx sip.ServerTransaction) {
	l.mu.Lock()
	c := l.call
	var uas *sipgo.DialogServerSession
	if c != nil && req.CallID() != nil && c.callID == req.CallID().Value() {
		uas = c.uas
	}
	l.mu.Unlock()
	if uas != nil {
		_ = uas.ReadAck(req, tx) // a re-INVITE's ACK does not match and is ignored
	}
}

// onBye ends the call the server hung up: 200 OK, and the person holding
// the handset hears reorder tone.
func (l *line) onBye(req *sip.Request, tx sip.ServerTransaction) {
	l.mu.Lock()
	c := l.call
	var uac *sipgo.DialogClientSession
	var uas *sipgo.DialogServerSession
	early := false
	if c != nil && req.CallID() != nil && c.callID == req.CallID().Value() {
		uac, uas = c.uac, c.uas
		// Answered but not yet up (200 sent or received): the set-up path
		// publishes the answer, then this hang-up.
		early = c.state == StateCalling || (c.state == StateRinging && c.media != nil)
		c.byeEarly = early
	}
	l.mu.Unlock()
	var err error
	switch {
	case uas != nil:
		err = uas.ReadBye(req, tx)
	case uac != nil:
		err = uac.ReadBye(req, tx)
	default:
		_ = tx.Respond(l.response(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err != nil {
		l.log.Debug("bye", "err", err)
	}
	if !early {
		l.serverHungUp(c)
	}
}

// sendKeys sends key presses by the line's DTMF method. Without a
// negotiated telephone-event, RFC 2833 falls back to in-audio tones; a
// hook flash cannot be a tone, so in-audio lines send it by SIP INFO.
func (l *line) sendKeys(ctx context.Context, keys []key) error {
	l.mu.Lock()
	c := l.call
	ok := c != nil && c.state == StateInCall
	var m *media
	var teOK bool
	if ok {
		m, teOK = c.media, c.teOK
	}
	l.mu.Unlock()
	if !ok {
		return ErrNoCall
	}
	method := l.cfg.DTMF
	if method == DTMFRFC2833 && !teOK {
		l.log.Info("telephone-event not negotiated: sending keys in audio")
		method = DTMFInband
	}
	dur, gap := l.cfg.DigitDuration, l.cfg.DigitGap
	switch method {
	case DTMFRFC2833:
		return m.sendKeys(ctx, &keyJob{keys: keys, duration: dur, gap: gap})
	case DTMFInfo:
		for _, k := range keys {
			if err := l.sendInfo(ctx, c, k); err != nil {
				return err
			}
		}
		return nil
	}
	for len(keys) > 0 {
		if keys[0].isFlash() {
			if err := l.sendInfo(ctx, c, keys[0]); err != nil {
				return err
			}
			keys = keys[1:]
			continue
		}
		n := 0
		for n < len(keys) && !keys[n].isFlash() {
			n++
		}
		if err := m.sendKeys(ctx, &keyJob{keys: keys[:n], inband: true, duration: dur, gap: gap}); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// sendInfo sends one key by SIP INFO, then waits for the key's duration and
// gap as a person pressing keys would.
func (l *line) sendInfo(ctx context.Context, c *call, k key) error {
	if l.down.Load() {
		return ErrClosed
	}
	d, target, err := l.dialog(c)
	if err != nil {
		return err
	}
	ctype, body := infoBody(k, l.cfg.DigitDuration)
	req := l.newRequest(sip.INFO, target)
	req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	req.SetBody([]byte(body))
	res, err := d.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if !res.IsSuccess() {
		return &StatusError{Method: "INFO", Code: res.StatusCode, Reason: res.Reason}
	}
	t := time.NewTimer(l.cfg.DigitDuration + l.cfg.DigitGap)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
