package line

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/media"
)

// StreamOptions are what a client asks of an audio media.
type StreamOptions struct {
	Direction  string // "in" (phone to client), "out" (client to phone) or "both"
	Format     dsp.Format
	SampleRate int
	FrameMS    int
	// ConnectTimeout stops the stream when no client has connected to it
	// by then (0: never).
	ConnectTimeout time.Duration
}

// Stream is one client's audio stream on a call: a listener (phone to
// client), a speaker (client to phone), or both.
type Stream struct {
	ID       string
	LineID   string
	Options  StreamOptions
	Listener *media.Listener // nil for "out"
	Speaker  *media.Speaker  // nil for "in"
	Media    *media.Call
	Created  time.Time
	// Marks delivers the names of marks reached (for the client writer).
	Marks chan MarkReached

	connectTimer *time.Timer // stops a stream nobody connects to; nil without a timeout
	done         chan struct{}
	reason       string // why it stopped; written before done is closed
	connected    sync.Once
	isConnected  atomic.Bool
	stopOnce     sync.Once
}

// MarkReached reports a mark whose audio was played (or cleared).
type MarkReached struct {
	Name    string
	Cleared bool
}

// Connect claims the stream for a client; only the first call succeeds.
func (s *Stream) Connect() bool {
	ok := false
	s.connected.Do(func() {
		ok = true
		s.isConnected.Store(true)
		if s.connectTimer != nil {
			s.connectTimer.Stop()
		}
	})
	return ok
}

// Connected reports whether a client has connected.
func (s *Stream) Connected() bool { return s.isConnected.Load() }

// Done is closed when the stream stops.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Reason says why the stream stopped; valid after Done is closed.
func (s *Stream) Reason() string { return s.reason }

// StartStream attaches a stream to the line's call and publishes
// audio_start. It fails with ErrNoCall when the line has no call.
func (m *Manager) StartStream(lineID string, o StreamOptions) (*Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.resolve(lineID)
	if err != nil {
		return nil, err
	}
	med := l.media()
	if med == nil {
		return nil, fmt.Errorf("%w: line %q has no call with media; lift the handset or ring it first", sipphone.ErrNoCall, l.id)
	}
	st := &Stream{ID: newID(), LineID: l.id, Options: o, Media: med, Created: m.now(),
		Marks: make(chan MarkReached, 256), done: make(chan struct{})}
	if o.Direction == "in" || o.Direction == "both" {
		st.Listener, err = media.NewListener(media.ListenerConfig{Format: o.Format, SampleRate: o.SampleRate, FrameMS: o.FrameMS})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", sipphone.ErrInvalid, err)
		}
	}
	if o.Direction == "out" || o.Direction == "both" {
		st.Speaker, err = media.NewSpeaker(o.Format, o.SampleRate, func(name string, cleared bool) {
			select {
			case st.Marks <- MarkReached{Name: name, Cleared: cleared}:
			default: // a client that does not read its marks loses the oldest news
			}
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", sipphone.ErrInvalid, err)
		}
	}
	if st.Listener != nil && !med.AddListener(st.Listener) || st.Speaker != nil && !med.AddSpeaker(st.Speaker) {
		return nil, fmt.Errorf("%w: the call is ending", sipphone.ErrNoCall)
	}
	if l.streams == nil {
		l.streams = map[string]*Stream{}
	}
	l.streams[st.ID] = st
	m.streams[st.ID] = l
	if o.ConnectTimeout > 0 {
		st.connectTimer = time.AfterFunc(o.ConnectTimeout, func() {
			if !st.Connected() {
				m.StopStream(st.ID, "not_connected") // an error when it already stopped: nothing to do
			}
		})
	}
	m.log.Info("audio stream started", "line", l.id, "stream_id", st.ID, "direction", o.Direction, "format", o.Format, "sample_rate", o.SampleRate)
	m.publish(sipphone.Event{Type: sipphone.EventAudioStart, Line: l.id, StreamID: st.ID, CallID: l.cur.id,
		Direction: sipphone.Direction(o.Direction), Format: o.Format.String(), SampleRate: o.SampleRate})
	return st, nil
}

// Stream returns a running media.
func (m *Manager) Stream(id string) (*Stream, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.streams[id]
	if l == nil {
		return nil, false
	}
	return l.streams[id], true
}

// StopStream stops a stream and publishes audio_stop with reason.
func (m *Manager) StopStream(id, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.streams[id]
	if l == nil {
		return fmt.Errorf("%w: no audio stream %q", sipphone.ErrNotFound, id)
	}
	m.stopStreamLocked(l, l.streams[id], reason)
	return nil
}

func (m *Manager) stopStreamLocked(l *lineState, st *Stream, reason string) {
	delete(l.streams, st.ID)
	delete(m.streams, st.ID)
	st.stopOnce.Do(func() {
		if st.connectTimer != nil {
			st.connectTimer.Stop()
		}
		if st.Listener != nil {
			st.Media.RemoveListener(st.Listener)
		}
		if st.Speaker != nil {
			st.Media.RemoveSpeaker(st.Speaker)
		}
		st.reason = reason
		close(st.done)
	})
	m.rememberEndedLocked(st.ID, l.id, reason)
	m.log.Info("audio stream stopped", "line", l.id, "stream_id", st.ID, "reason", reason)
	m.publish(sipphone.Event{Type: sipphone.EventAudioStop, Line: l.id, StreamID: st.ID, Reason: reason})
}

// SetLoopback turns the line's loopback (echo of the phone's own audio)
// on or off.
func (m *Manager) SetLoopback(lineID string, on bool) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.resolve(lineID)
	if err != nil {
		return "", err
	}
	med := l.media()
	if med == nil {
		return l.id, fmt.Errorf("%w: line %q has no call", sipphone.ErrNoCall, l.id)
	}
	med.SetLoopback(on)
	m.log.Info("loopback", "line", l.id, "on", on)
	return l.id, nil
}

// Play queues 8 kHz samples into the line's call; playback_done follows
// when they have been sent.
func (m *Manager) Play(lineID string, pcm []int16) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, err := m.resolve(lineID)
	if err != nil {
		return "", "", err
	}
	med := l.media()
	if med == nil {
		return "", l.id, fmt.Errorf("%w: line %q has no call", sipphone.ErrNoCall, l.id)
	}
	if len(pcm) > media.DefaultQueue {
		return "", l.id, fmt.Errorf("%w: the file plays %v; at most %v can be played at once", sipphone.ErrInvalid,
			time.Duration(len(pcm))*time.Second/8000, time.Duration(media.DefaultQueue)*time.Second/8000)
	}
	id := newID()
	lineID = l.id
	var sp *media.Speaker
	sp, err = media.NewSpeaker(dsp.FormatPCM16, 8000, func(_ string, cleared bool) {
		// Called by the media send loop with the call's media lock held:
		// hand the end over to the manager's goroutine, never waiting (it
		// takes that lock to remove the speaker). Should 256 playbacks end
		// at once, the hand-over waits on a goroutine of its own.
		end := playbackEnd{id: id, line: lineID, media: med, speaker: sp, cleared: cleared}
		select {
		case m.finished <- end:
		default:
			go func() {
				select {
				case m.finished <- end:
				case <-m.stop: // the manager is closed: nobody publishes any more
				}
			}()
		}
	})
	if err != nil {
		return "", l.id, err
	}
	sp.Push(pcm)
	if !med.AddSpeaker(sp) {
		return "", l.id, fmt.Errorf("%w: the call is ending", sipphone.ErrNoCall)
	}
	sp.Mark("end")
	m.log.Info("playback started", "line", l.id, "playback_id", id, "duration", time.Duration(len(pcm))*time.Second/8000)
	return id, l.id, nil
}

// PublishLevels publishes an audio_level event for every line in a call:
// the RMS of the last frame and the peak since the previous event, both
// directions, in dBFS.
func (m *Manager) PublishLevels() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.lines {
		med := l.media()
		if med == nil {
			continue
		}
		st := med.Stats()
		m.publish(sipphone.Event{Type: sipphone.EventAudioLevel, Line: l.id, CallID: l.cur.id,
			LevelIn:  &sipphone.Level{RMS: st.LevelIn.RMS, Peak: st.LevelIn.Peak},
			LevelOut: &sipphone.Level{RMS: st.LevelOut.RMS, Peak: st.LevelOut.Peak}})
	}
}

// media returns the running media of the line's call, nil when none.
func (l *lineState) media() *media.Call {
	if l.cur == nil {
		return nil
	}
	return l.cur.media
}

// playbackEnd is a playback whose audio has all been sent (or cleared).
type playbackEnd struct {
	id, line string
	media    *media.Call
	speaker  *media.Speaker
	cleared  bool
}

// finishPlayback removes a finished playback from its call and publishes
// playback_done. Run by the manager's goroutine.
func (m *Manager) finishPlayback(p playbackEnd) {
	p.media.RemoveSpeaker(p.speaker)
	reason := "finished"
	if p.cleared {
		reason = "stopped"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publish(sipphone.Event{Type: sipphone.EventPlaybackDone, Line: p.line, PlaybackID: p.id, Reason: reason})
}
