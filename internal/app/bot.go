package app

import (
	"net/http"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/bot"
	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/media"
)

// startBots builds the voice-bot bridges' manager over the line manager
// and the event bus, and starts its off-hook watcher.
func (a *App) startBots() error {
	onOffHook := map[string]bot.Request{}
	for _, l := range a.cfg.Lines {
		if l.OnOffHook == nil || l.OnOffHook.Connect == nil {
			continue
		}
		id := l.ID
		if id == "" {
			id = l.User
		}
		onOffHook[id] = botRequest(*l.OnOffHook.Connect)
	}
	c := a.cfg.Bot
	m, err := bot.New(bot.Config{
		AccountSID:  c.AccountSID,
		ErrorTone:   bot.Tone{Frequency: c.ErrorTone.Frequency, Duration: time.Duration(c.ErrorTone.Duration), Level: c.ErrorTone.Level},
		DialTimeout: time.Duration(c.DialTimeout), WriteTimeout: time.Duration(c.WriteTimeout),
		HTTPClient: &http.Client{Timeout: time.Duration(c.DialTimeout)},
		OnOffHook:  onOffHook, Logger: a.log,
	}, bot.Deps{Lines: botLines{a.Lines}, Hangup: a.Lines, Events: botEvents{a.Bus}, Bus: a.Bus})
	if err != nil {
		return err
	}
	a.Bots = m
	m.Start()
	return nil
}

// stopBots ends every bridge (bots get stop) and the watcher.
func (a *App) stopBots() {
	if a.Bots != nil {
		a.Bots.Close()
	}
}

// botRequest converts a configured connect object.
func botRequest(c config.BotConnect) bot.Request {
	return bot.Request{URL: c.URL, TwiMLURL: c.TwiMLURL, Protocol: c.Protocol, Parameters: c.Parameters,
		HangupOnClose: c.HangupOnClose, SampleRate: c.SampleRate}
}

// botEvents subscribes the bridges to the event bus.
type botEvents struct{ bus *events.Bus }

func (e botEvents) Subscribe(types []string) (<-chan *sipphone.Event, func()) {
	s, _ := e.bus.Subscribe(events.Filter{Types: types}, 256, nil)
	return s.C(), s.Close
}

// botLines attaches bridges to calls as audio streams.
type botLines struct{ m *line.Manager }

func (b botLines) Attach(lineID string, f bot.Format, onMark func(string, bool)) (bot.Media, error) {
	format := dsp.FormatUlaw
	if f.Encoding == "pcm16" {
		format = dsp.FormatPCM16
	}
	st, err := b.m.StartStream(lineID, line.StreamOptions{Direction: "both", Format: format, SampleRate: f.Rate, FrameMS: f.FrameMS})
	if err != nil {
		return nil, err
	}
	st.Connect() // the bridge is the stream's client
	info := bot.CallInfo{}
	if ls, err := b.m.Line(st.LineID); err == nil && ls.Call != nil {
		info.ID, info.Direction = ls.Call.ID, ls.Call.Direction
		if ls.Call.Direction == sipphone.FromPhone {
			info.From, info.To = ls.User, ls.Call.Dialed
			if info.To == "" {
				info.To = "sipphone"
			}
		} else {
			info.From, info.To = "sipphone", ls.User
		}
	}
	// Marks reached are handed to the bridge until the stream stops.
	go func() {
		for {
			select {
			case mk := <-st.Marks:
				onMark(mk.Name, mk.Cleared)
			case <-st.Done():
				return
			}
		}
	}()
	return &botMedia{m: b.m, st: st, info: info}, nil
}

// botMedia is one bridge's stream.
type botMedia struct {
	m    *line.Manager
	st   *line.Stream
	info bot.CallInfo
	last *media.Chunk
}

func (x *botMedia) StreamID() string      { return x.st.ID }
func (x *botMedia) LineID() string        { return x.st.LineID }
func (x *botMedia) Call() bot.CallInfo    { return x.info }
func (x *botMedia) Write(b []byte) error  { return x.st.Speaker.Write(b) }
func (x *botMedia) Mark(name string)      { x.st.Speaker.Mark(name) }
func (x *botMedia) Clear()                { x.st.Speaker.Clear() }
func (x *botMedia) Done() <-chan struct{} { return x.st.Done() }
func (x *botMedia) Stop(reason string)    { x.m.StopStream(x.st.ID, reason) }

func (x *botMedia) Next(wake <-chan struct{}) ([]byte, time.Time, bot.NextResult) {
	select {
	case c, ok := <-x.st.Listener.C():
		if !ok {
			return nil, time.Time{}, bot.Ended
		}
		x.last = c
		return c.Data, c.Captured, bot.GotFrame
	case <-wake:
		return nil, time.Time{}, bot.Woken
	case <-x.st.Done():
		return nil, time.Time{}, bot.Ended
	}
}

func (x *botMedia) Release() {
	if c := x.last; c != nil {
		x.last = nil
		x.st.Media.ObserveCapture(time.Since(c.Captured))
		x.st.Listener.Release(c)
	}
}
