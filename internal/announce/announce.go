// Package announce rings a line, plays a message when the phone is
// answered (repeated, with a pause between), waits until the last sample
// has been sent, and hangs up: what a doorbell or an alarm needs. It is
// reached as POST /lines/{id}/announce and as the MQTT announce command.
//
// The message is a WAV or MP3 file, given as the request body or fetched
// from audio_url (hosts limited by announce.allowed_url_hosts). Progress is
// published as announce_start and announce_done events; keys pressed
// during the message are reported as usual by the line.
package announce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// Lines is what an announce needs from the line owner (*line.Manager).
type Lines interface {
	Ring(lineID string, o RingOptions) (ringID, line string, err error)
	Play(lineID string, pcm []int16) (playbackID, line string, err error)
	Hangup(lineID string) (string, error)
}

// RingOptions are a ring's caller ID, pattern and timeout (the fields of
// the line owner's ring options).
type RingOptions struct {
	CallerID sipphone.CallerID
	Pattern  string
	Timeout  time.Duration
}

// Events is the event source. Subscribe returns a queue of every event
// from now on and a func ending the subscription; the channel is closed if
// the subscriber falls queueLen events behind.
type Events interface {
	Subscribe(queueLen int) (<-chan *sipphone.Event, func())
}

// Publisher publishes an event on the bus.
type Publisher interface {
	Publish(sipphone.Event)
}

// Config configures an Announcer.
type Config struct {
	// AllowedURLHosts: hostnames, IP addresses or CIDRs audio_url may
	// name; empty allows this machine's own addresses.
	AllowedURLHosts []string
	// MaxDownloadBytes bounds a file (downloaded or uploaded). Default 16 MiB.
	MaxDownloadBytes int64
	// FetchTimeout bounds a download. Default 15s.
	FetchTimeout time.Duration
	// HangupDelay is waited after the last sample was sent, before BYE,
	// so the phone's jitter buffer plays out. Default 300ms.
	HangupDelay time.Duration
	Logger      *slog.Logger
}

// Request describes an announce.
type Request struct {
	AudioURL string             `json:"audio_url,omitempty" doc:"WAV or MP3 to fetch (http or https; hosts limited by announce.allowed_url_hosts). Ignored when the body is the audio." maxLength:"2048"`
	CallerID *sipphone.CallerID `json:"caller_id,omitempty" doc:"What the phone shows while ringing"`
	Pattern  string             `json:"pattern,omitempty" doc:"Ring pattern name (ht802.ring_patterns)" maxLength:"32"`
	TimeoutS float64            `json:"timeout_s,omitempty" doc:"Seconds to ring before giving up (default ht802.ring_timeout)" minimum:"0" maximum:"600"`
	Repeat   int                `json:"repeat,omitempty" doc:"How many times the message is played (default 1)" minimum:"0" maximum:"20"`
	PauseS   float64            `json:"pause_s,omitempty" doc:"Silence between repetitions in seconds (default 1)" minimum:"0" maximum:"60"`
	Hangup   *bool              `json:"hangup,omitempty" doc:"Hang up after the last repetition (default true)"`
}

// Started answers an announce that is under way.
type Started struct {
	AnnounceID string  `json:"announce_id" doc:"The ring id; announce_start and announce_done carry it as ring_id"`
	Line       string  `json:"line"`
	DurationS  float64 `json:"duration_s" doc:"Length of one repetition of the message"`
	Repeat     int     `json:"repeat"`
}

// Announcer runs announces. Each runs on a goroutine the Announcer owns
// until Close.
type Announcer struct {
	cfg    Config
	log    *slog.Logger
	lines  Lines
	events Events
	pub    Publisher
	fetch  *fetcher

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // orders wg.Add with Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// New builds an Announcer.
func New(cfg Config, lines Lines, events Events, pub Publisher) (*Announcer, error) {
	if cfg.MaxDownloadBytes <= 0 {
		cfg.MaxDownloadBytes = 16 << 20
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 15 * time.Second
	}
	if cfg.HangupDelay <= 0 {
		cfg.HangupDelay = 300 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pol, err := newHostPolicy(cfg.AllowedURLHosts)
	if err != nil {
		return nil, fmt.Errorf("announce.allowed_url_hosts: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Announcer{cfg: cfg, log: cfg.Logger.With("component", "announce"), lines: lines, events: events, pub: pub,
		fetch: newFetcher(pol, cfg.FetchTimeout, cfg.MaxDownloadBytes), ctx: ctx, cancel: cancel}, nil
}

// Close ends running announces (they report failed) and waits for them.
func (a *Announcer) Close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	a.fetch.close()
}

// Announce starts an announce from a JSON Request naming audio_url (the
// MQTT command).
func (a *Announcer) Announce(lineID string, payload []byte) error {
	var r Request
	if err := jsonUnmarshal(payload, &r); err != nil {
		return invalid("announce payload is not a JSON object like {\"audio_url\":\"http://...\",\"repeat\":2}: %v", err)
	}
	_, err := a.Start(a.ctx, lineID, r, nil)
	return err
}

// Start loads the audio (audio, or r.AudioURL when audio is nil), rings
// the line and returns; the rest happens in the background.
func (a *Announcer) Start(ctx context.Context, lineID string, r Request, audio []byte) (Started, error) {
	if err := r.normalize(); err != nil {
		return Started{}, err
	}
	if audio == nil {
		if r.AudioURL == "" {
			return Started{}, invalid("give the audio as the request body (WAV or MP3) or as audio_url")
		}
		var err error
		if audio, err = a.fetch.get(ctx, r.AudioURL); err != nil {
			return Started{}, err
		}
	}
	pcm, err := decode(audio, a.cfg.MaxDownloadBytes)
	if err != nil {
		return Started{}, err
	}
	o := RingOptions{Pattern: r.Pattern, Timeout: time.Duration(r.TimeoutS * float64(time.Second))}
	if r.CallerID != nil {
		o.CallerID = *r.CallerID
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return Started{}, fmt.Errorf("%w: announce is closed", sipphone.ErrShuttingDown)
	}
	evs, cancel := a.events.Subscribe(256)
	ringID, line, err := a.lines.Ring(lineID, o)
	if err != nil {
		cancel()
		return Started{}, err
	}
	dur := time.Duration(len(pcm)) * time.Second / 8000
	ms := int(dur / time.Millisecond)
	a.pub.Publish(sipphone.Event{Type: sipphone.EventAnnounceStart, Line: line, RingID: ringID, CallerID: r.CallerID, Pattern: r.Pattern, DurationMS: &ms})
	a.log.Info("announce started", "line", line, "ring_id", ringID, "duration", dur, "repeat", r.Repeat)
	run := &run{a: a, line: line, ringID: ringID, pcm: pcm, req: r, events: evs}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		reason, callID := run.do()
		a.log.Info("announce done", "line", line, "ring_id", ringID, "reason", reason)
		a.pub.Publish(sipphone.Event{Type: sipphone.EventAnnounceDone, Line: line, RingID: ringID, CallID: callID, Reason: reason})
	}()
	return Started{AnnounceID: ringID, Line: line, DurationS: dur.Seconds(), Repeat: r.Repeat}, nil
}

func (r *Request) normalize() error {
	switch {
	case r.Repeat == 0:
		r.Repeat = 1
	case r.Repeat < 0 || r.Repeat > 20:
		return invalid("repeat %d is out of range (1 to 20)", r.Repeat)
	}
	if r.PauseS == 0 {
		r.PauseS = 1
	}
	if r.PauseS < 0 || r.PauseS > 60 {
		return invalid("pause_s %v is out of range (0 to 60)", r.PauseS)
	}
	if r.TimeoutS < 0 || r.TimeoutS > 600 {
		return invalid("timeout_s %v is out of range (0 to 600)", r.TimeoutS)
	}
	if r.Hangup == nil {
		t := true
		r.Hangup = &t
	}
	return nil
}

// run is one announce in progress.
type run struct {
	a      *Announcer
	line   string
	ringID string
	callID string
	pcm    []int16
	req    Request
	events <-chan *sipphone.Event
}

// errEnded means the call ended before the message did.
var errEnded = errors.New("call ended")

// do follows the announce to its end and returns the reason.
func (r *run) do() (string, string) {
	// Ringing: wait for the answer (off_hook of our ring) or the end.
	for r.callID == "" {
		e, err := r.next(nil)
		if err != nil {
			return sipphone.AnnounceFailed, ""
		}
		switch {
		case e.Type == sipphone.EventOffHook && e.RingID == r.ringID:
			r.callID = e.CallID
		case e.Type == sipphone.EventRingStop && e.RingID == r.ringID && e.Reason != string(sipphone.RingAnswered):
			if e.Reason == string(sipphone.RingFailed) {
				return sipphone.AnnounceFailed, ""
			}
			return sipphone.AnnounceNoAnswer, ""
		}
	}
	for i := 0; i < r.req.Repeat; i++ {
		if i > 0 {
			if err := r.wait(time.Duration(r.req.PauseS * float64(time.Second))); err != nil {
				return r.fail(err)
			}
		}
		id, _, err := r.a.lines.Play(r.line, r.pcm)
		if err != nil {
			if errors.Is(err, sipphone.ErrNoCall) {
				return sipphone.AnnounceHungUpEarly, r.callID
			}
			r.a.log.Warn("announce playback failed", "line", r.line, "err", err)
			return sipphone.AnnounceFailed, r.callID
		}
		for done := false; !done; {
			e, err := r.next(nil)
			if err != nil {
				return r.fail(err)
			}
			if e.Type == sipphone.EventPlaybackDone && e.PlaybackID == id {
				if e.Reason != "finished" {
					return sipphone.AnnounceHungUpEarly, r.callID
				}
				done = true
			}
		}
	}
	if *r.req.Hangup {
		// The last sample has been sent; let the phone play it out.
		if err := r.wait(r.a.cfg.HangupDelay); err != nil {
			return r.fail(err)
		}
		if _, err := r.a.lines.Hangup(r.line); err != nil && !errors.Is(err, sipphone.ErrNoCall) {
			r.a.log.Warn("announce hang-up failed", "line", r.line, "err", err)
		}
	}
	return sipphone.AnnouncePlayed, r.callID
}

func (r *run) fail(err error) (string, string) {
	if errors.Is(err, errEnded) {
		return sipphone.AnnounceHungUpEarly, r.callID
	}
	return sipphone.AnnounceFailed, r.callID
}

// next returns the next event of the line: errEnded when it ends our call,
// another error when the subscription or the Announcer ended, and the zero
// event when timer (may be nil) fires.
func (r *run) next(timer <-chan time.Time) (sipphone.Event, error) {
	for {
		select {
		case <-r.a.ctx.Done():
			return sipphone.Event{}, r.a.ctx.Err()
		case <-timer:
			return sipphone.Event{}, nil
		case e, ok := <-r.events:
			if !ok {
				return sipphone.Event{}, errors.New("event queue overflowed")
			}
			if e.Line != r.line {
				continue
			}
			if r.callID != "" && e.CallID == r.callID && (e.Type == sipphone.EventOnHook || e.Type == sipphone.EventHangup) {
				return *e, errEnded
			}
			return *e, nil
		}
	}
}

// wait lets d pass, watching for the end of the call.
func (r *run) wait(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		e, err := r.next(t.C)
		if err != nil {
			return err
		}
		if e.Type == "" {
			return nil
		}
	}
}

// jsonUnmarshal decodes a JSON object, refusing unknown fields so a typo
// is reported rather than ignored.
func jsonUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
