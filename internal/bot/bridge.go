package bot

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
)

// bridge is one call connected to one bot. Its goroutine (run) dials,
// then writes to the bot; a reader goroutine plays what the bot sends; a
// third forwards key presses. The phone's audio reaches the writer
// through the stream's listener, which drops chunks rather than wait: a
// slow bot never delays the phone.
type bridge struct {
	m      *Manager
	req    Request
	media  Media
	call   CallInfo
	id     string // connection id: the stream id
	format Format
	proto  protocol
	tw     *twilio // nil for protocol sipphone
	log    *slog.Logger

	url       string // the bot's WebSocket URL, after the TwiML step
	connected atomic.Bool

	ctl      chan ctlMsg   // dtmf and marks for the writer
	wake     chan struct{} // tells the writer to look at ctl, stopReq, readErr
	stopReq  chan string   // a stop reason (DELETE, shutdown)
	readErr  chan error    // the reader's end
	toneDone chan struct{} // closed when the error tone has played
	toneMark string
	toneOnce sync.Once
	slow     atomic.Bool // the write watchdog fired
	stopOnce sync.Once
	done     chan struct{}
}

type ctlMsg struct {
	dtmf    string
	mark    string
	cleared bool
}

// push hands a message to the writer without blocking.
func (b *bridge) push(c ctlMsg) {
	select {
	case b.ctl <- c:
	default:
		b.log.Warn("bot bridge control queue full; message dropped", "dtmf", c.dtmf, "mark", c.mark)
	}
	b.poke()
}

func (b *bridge) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// onMark is the stream's mark callback.
func (b *bridge) onMark(name string, cleared bool) {
	if name == b.toneMark {
		b.toneOnce.Do(func() { close(b.toneDone) })
		return
	}
	b.push(ctlMsg{mark: name, cleared: cleared})
}

// stop asks the bridge to end with reason; later calls are ignored.
func (b *bridge) stop(reason string) {
	b.stopOnce.Do(func() {
		b.stopReq <- reason
		b.poke()
	})
}

// run is the bridge's life.
func (b *bridge) run(events <-chan *sipphone.Event, unsubscribe func()) {
	defer b.m.remove(b)
	defer close(b.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A stop or the end of the call aborts the TwiML request and the dial.
	dialing := make(chan struct{})
	go func() {
		select {
		case r := <-b.stopReq:
			b.stopReq <- r // for the writer
			cancel()
		case <-b.media.Done():
			cancel()
		case <-dialing:
		}
	}()
	conn, reason, err := b.dial(ctx)
	close(dialing)
	if err != nil {
		unsubscribe()
		if ctx.Err() != nil { // stopped, or the call ended, while dialing
			reason, err = b.endReason(), nil
		}
		b.finish(reason, err, true)
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	// Reads and writes use a context without a Done channel: coder/websocket
	// then allocates nothing per message. A bot that cannot take a message
	// for WriteTimeout is cut off by one timer re-armed per write, and
	// closing the connection ends a blocked read.
	wctx := context.Background()
	watchdog := time.AfterFunc(time.Hour, func() { b.slow.Store(true); conn.CloseNow() })
	watchdog.Stop()
	defer watchdog.Stop()
	write := func(binary bool, msg []byte) error {
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		watchdog.Reset(b.m.cfg.WriteTimeout)
		err := conn.Write(wctx, typ, msg)
		watchdog.Stop()
		return err
	}
	for _, msg := range b.proto.opening() {
		if err := write(false, msg); err != nil {
			unsubscribe()
			b.finish("connection_lost", err, true)
			return
		}
	}
	b.connected.Store(true)
	b.log.Info("bot connected", "url", b.url)
	b.m.pub.Publish(sipphone.Event{Type: sipphone.EventBotConnected, Line: b.media.LineID(), StreamID: b.id, CallID: b.call.ID})

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // reader: the bot's audio and control messages
		defer wg.Done()
		var buf bytes.Buffer // reused: no allocation per message
		for {
			typ, r, err := conn.Reader(wctx)
			if err == nil {
				buf.Reset()
				_, err = buf.ReadFrom(r)
			}
			if err == nil {
				err = b.proto.handle(typ == websocket.MessageBinary, buf.Bytes(), b.media)
			}
			if err != nil {
				b.readErr <- err
				b.poke()
				return
			}
		}
	}()
	go func() { // key presses on this line
		defer wg.Done()
		for e := range events {
			if e.Line == b.media.LineID() && e.Digit != "" {
				b.push(ctlMsg{dtmf: e.Digit})
			}
		}
	}()
	reason, err = b.pump(write)
	unsubscribe()
	botGone := err != nil || reason == "closed"
	if !botGone {
		// We end the stream: tell the bot, then close.
		if m := b.proto.stop(); m != nil {
			write(false, m)
		}
		code := websocket.StatusNormalClosure
		if reason == "shutdown" {
			code = websocket.StatusGoingAway
		}
		conn.Close(code, reason)
	} else if errors.Is(err, errMalformed) {
		conn.Close(websocket.StatusUnsupportedData, "malformed message")
	}
	conn.CloseNow()
	wg.Wait()
	b.finish(reason, err, botGone)
}

// pump sends the phone's audio and control messages until the stream or
// the bot ends. It returns the reason, and the error when the bot failed.
func (b *bridge) pump(write func(bool, []byte) error) (string, error) {
	var start time.Time
	var last time.Duration
	for {
		frame, captured, r := b.media.Next(b.wake)
		switch r {
		case GotFrame:
			// timestamp: ms since the first frame was captured, never going back.
			if start.IsZero() {
				start = captured
			}
			at := max(captured.Sub(start), last)
			last = at
			msg, binary := b.proto.media(frame, at)
			err := write(binary, msg)
			b.media.Release()
			if err != nil {
				return b.writeFailure(err)
			}
		case Ended:
			return "call_ended", nil
		case Woken:
			select {
			case reason := <-b.stopReq:
				return reason, nil
			case err := <-b.readErr:
				return b.readFailure(err)
			default:
			}
			for more := true; more; {
				select {
				case c := <-b.ctl:
					var msg []byte
					if c.dtmf != "" {
						msg = b.proto.dtmf(c.dtmf)
					} else {
						msg = b.proto.mark(c.mark, c.cleared)
					}
					if err := write(false, msg); err != nil {
						return b.writeFailure(err)
					}
				default:
					more = false
				}
			}
		}
	}
}

func (b *bridge) writeFailure(err error) (string, error) {
	if b.slow.Load() {
		return "too_slow", fmt.Errorf("the bot took no message for %v: %w", b.m.cfg.WriteTimeout, err)
	}
	return "connection_lost", err
}

func (b *bridge) readFailure(err error) (string, error) {
	switch {
	case errors.Is(err, errMalformed):
		return "malformed_message", err
	case websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway:
		return "closed", nil
	case b.slow.Load():
		return b.writeFailure(err)
	}
	return "connection_lost", err
}

// endReason is why a bridge stopped before the bot answered.
func (b *bridge) endReason() string {
	select {
	case r := <-b.stopReq:
		return r
	default:
		return "call_ended"
	}
}

// dial runs the TwiML step if asked and opens the bot's WebSocket.
func (b *bridge) dial(ctx context.Context) (*websocket.Conn, string, error) {
	dctx, cancel := context.WithTimeout(ctx, b.m.cfg.DialTimeout)
	defer cancel()
	b.url = b.req.URL
	if b.req.TwiMLURL != "" {
		dir := "inbound"
		if b.call.Direction == sipphone.ToPhone {
			dir = "outbound-api"
		}
		u, params, err := fetchTwiML(dctx, b.m.cfg.HTTPClient, b.req.TwiMLURL, twimlRequest{CallSID: b.tw.callSID, AccountSID: b.tw.accountSID,
			From: b.call.From, To: b.call.To, Direction: dir})
		if err != nil {
			return nil, "twiml_error", err
		}
		b.url = u
		p := maps.Clone(b.tw.params)
		maps.Copy(p, params)
		b.tw.params = p
	}
	conn, _, err := websocket.Dial(dctx, b.url, &websocket.DialOptions{HTTPClient: b.m.cfg.HTTPClient})
	if err != nil {
		return nil, dialReason(err), err
	}
	return conn, "", nil
}

// dialReason tells a TLS failure from an unreachable bot.
func dialReason(err error) string {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &rh) || errors.As(err, &ae) {
		return "tls_error"
	}
	return "unreachable"
}

// finish publishes bot_disconnected and, when the bot went away (or was
// never reached) while the call goes on, plays the error tone and hangs up
// or keeps the call per hangup_on_close.
func (b *bridge) finish(reason string, err error, botGone bool) {
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	b.log.Info("bot disconnected", "reason", reason, "detail", detail)
	b.m.pub.Publish(sipphone.Event{Type: sipphone.EventBotDisconnected, Line: b.media.LineID(), StreamID: b.id,
		CallID: b.call.ID, Reason: reason, Detail: detail})
	callAlive := true
	select {
	case <-b.media.Done():
		callAlive = false
	default:
	}
	if !callAlive {
		return
	}
	if !botGone || reason == "shutdown" {
		b.media.Stop(reason)
		return
	}
	b.media.Clear()
	if err != nil && b.playTone() {
		select {
		case <-b.toneDone:
		case <-b.media.Done():
		case <-b.m.closing:
		case <-time.After(b.m.cfg.ErrorTone.Duration + 2*time.Second):
		}
	}
	b.media.Stop("bot_disconnected")
	if b.req.hangupOnClose() {
		if _, err := b.m.hang.Hangup(b.media.LineID()); err != nil {
			b.log.Debug("hang-up after the bot left", "err", err)
		}
	}
}

// playTone queues the error tone and a mark after it.
func (b *bridge) playTone() bool {
	pcm := b.m.cfg.ErrorTone.render(b.format)
	if len(pcm) == 0 {
		return false
	}
	b.media.Write(pcm)
	b.media.Mark(b.toneMark)
	return true
}
