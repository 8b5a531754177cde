// Package bot bridges a line's call to a voice bot: sipphone dials out to
// the bot's WebSocket and speaks Twilio's Media Streams protocol (or our
// own "sipphone" audio-stream format), so a bot written for a Twilio
// phone number talks to the analog phone unchanged.
//
// The package depends on the root package and on the small interfaces
// below, which the application implements over its line manager and
// event bus.
package bot

import (
	"time"

	"github.com/sip-phone-api/sipphone"
)

// Attacher attaches a two-way audio stream to a line's call.
type Attacher interface {
	// Attach starts a stream on the line's call in format f. onMark is
	// called (from any goroutine, never blocking) when a mark queued with
	// Media.Mark has been played, or at once with cleared=true on Clear.
	// It fails with sipphone.ErrNoCall when the line has no call.
	Attach(lineID string, f Format, onMark func(name string, cleared bool)) (Media, error)
}

// Format is the audio of a stream: "ulaw" at 8000 Hz (Twilio) or
// "pcm16" (16-bit little-endian) at Rate.
type Format struct {
	Encoding string // "ulaw" or "pcm16"
	Rate     int
	FrameMS  int
}

// NextResult says what Media.Next returned.
type NextResult int

// Results of Media.Next.
const (
	GotFrame NextResult = iota // a frame of the phone's audio
	Woken                      // the wake channel fired
	Ended                      // the stream stopped
)

// Media is an attached stream: the phone's audio (Next/Release) and a
// speaker to the phone (Write/Mark/Clear), mixed with other speakers.
type Media interface {
	StreamID() string
	LineID() string
	// Call describes the call the stream is on.
	Call() CallInfo
	// Next waits for the next frame of the phone's audio, for wake, or
	// for the stream to end. A frame is valid until Release.
	Next(wake <-chan struct{}) (frame []byte, captured time.Time, r NextResult)
	// Release hands the last frame's buffer back.
	Release()
	// Write queues audio for the phone (any length, in the stream's
	// format); it is played at real time. It never blocks on the network.
	Write(b []byte) error
	// Mark asks for onMark once the audio queued so far has played.
	Mark(name string)
	// Clear drops the queued audio; pending marks come back cleared.
	Clear()
	// Done is closed when the stream stops (the call ended, or Stop).
	Done() <-chan struct{}
	// Stop detaches the stream; reason goes into its audio_stop event.
	Stop(reason string)
}

// CallInfo describes the call a bot is connected to.
type CallInfo struct {
	ID        string
	Direction sipphone.Direction
	From, To  string
}

// Hanger hangs up a line's call.
type Hanger interface {
	Hangup(lineID string) (string, error)
}

// Subscriber delivers events of the given types (all lines) until cancel
// is called. The channel is closed when the subscription ends.
type Subscriber interface {
	Subscribe(types []string) (events <-chan *sipphone.Event, cancel func())
}

// Publisher publishes an event.
type Publisher interface {
	Publish(e sipphone.Event) sipphone.Event
}
