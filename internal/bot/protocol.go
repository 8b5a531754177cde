package bot

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// protocol speaks one wire format to the bot. Its methods are called by
// the bridge's writer goroutine (the senders) and reader goroutine
// (handle); the returned slices are valid until the next call of the same
// method.
type protocol interface {
	// opening returns the messages sent once the WebSocket is open.
	opening() [][]byte
	// media frames one chunk of the phone's audio; binary says whether it
	// is a binary message.
	media(frame []byte, at time.Duration) (msg []byte, binary bool)
	dtmf(digit string) []byte
	mark(name string, cleared bool) []byte // nil: not sent
	stop() []byte
	// handle takes one message from the bot.
	handle(binary bool, msg []byte, m Media) error
}

// errMalformed marks a message the bot should not have sent.
var errMalformed = errors.New("malformed message")

// newSID returns a Twilio-style id: prefix and 32 hex digits.
func newSID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// twilio speaks Twilio's Media Streams protocol ("Media Streams -
// WebSocket Messages"): every message is JSON text; sequenceNumber counts
// every message from 1 (start), chunk counts media messages from 1; both,
// and timestamp (ms since the stream started), are strings.
type twilio struct {
	streamSID, callSID, accountSID string
	params                         map[string]string

	seq   uint64 // the last sequenceNumber sent (writer goroutine)
	chunk uint64
	buf   []byte // the media message, reused

	in     inbound // reused by handle (reader goroutine)
	audio  []byte  // decoded bot audio, reused
	logBad func(string)
}

func newTwilio(accountSID, callSID string, params map[string]string) *twilio {
	return &twilio{streamSID: newSID("MZ"), callSID: callSID, accountSID: accountSID, params: params,
		buf: make([]byte, 0, 512)}
}

type twStart struct {
	StreamSID        string            `json:"streamSid"`
	AccountSID       string            `json:"accountSid"`
	CallSID          string            `json:"callSid"`
	Tracks           []string          `json:"tracks"`
	CustomParameters map[string]string `json:"customParameters"`
	MediaFormat      twFormat          `json:"mediaFormat"`
}

type twFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sampleRate"`
	Channels   int    `json:"channels"`
}

type twDTMF struct {
	Track string `json:"track"`
	Digit string `json:"digit"`
}

type twMark struct {
	Name string `json:"name"`
}

type twStop struct {
	AccountSID string `json:"accountSid"`
	CallSID    string `json:"callSid"`
}

// twOut is a message to the bot other than media.
type twOut struct {
	Event          string   `json:"event"`
	SequenceNumber string   `json:"sequenceNumber"`
	StreamSID      string   `json:"streamSid"`
	Start          *twStart `json:"start,omitempty"`
	DTMF           *twDTMF  `json:"dtmf,omitempty"`
	Mark           *twMark  `json:"mark,omitempty"`
	Stop           *twStop  `json:"stop,omitempty"`
}

func (t *twilio) next() string {
	t.seq++
	return strconv.FormatUint(t.seq, 10)
}

func (t *twilio) marshal(m twOut) []byte {
	m.SequenceNumber, m.StreamSID = t.next(), t.streamSID
	b, _ := json.Marshal(m) // plain strings and maps: cannot fail
	return b
}

func (t *twilio) opening() [][]byte {
	connected := []byte(`{"event":"connected","protocol":"Call","version":"1.0.0"}`)
	start := t.marshal(twOut{Event: "start", Start: &twStart{StreamSID: t.streamSID, AccountSID: t.accountSID, CallSID: t.callSID,
		Tracks: []string{"inbound"}, CustomParameters: t.params,
		MediaFormat: twFormat{Encoding: "audio/x-mulaw", SampleRate: 8000, Channels: 1}}})
	return [][]byte{connected, start}
}

// media builds the message into a reused buffer: no allocation per frame.
func (t *twilio) media(frame []byte, at time.Duration) ([]byte, bool) {
	t.seq++
	t.chunk++
	b := append(t.buf[:0], `{"event":"media","sequenceNumber":"`...)
	b = strconv.AppendUint(b, t.seq, 10)
	b = append(b, `","streamSid":"`...)
	b = append(b, t.streamSID...)
	b = append(b, `","media":{"track":"inbound","chunk":"`...)
	b = strconv.AppendUint(b, t.chunk, 10)
	b = append(b, `","timestamp":"`...)
	b = strconv.AppendInt(b, at.Milliseconds(), 10)
	b = append(b, `","payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, frame)
	b = append(b, `"}}`...)
	t.buf = b
	return b, false
}

func (t *twilio) dtmf(digit string) []byte {
	return t.marshal(twOut{Event: "dtmf", DTMF: &twDTMF{Track: "inbound_track", Digit: digit}})
}

func (t *twilio) mark(name string, _ bool) []byte {
	return t.marshal(twOut{Event: "mark", Mark: &twMark{Name: name}})
}

func (t *twilio) stop() []byte {
	return t.marshal(twOut{Event: "stop", Stop: &twStop{AccountSID: t.accountSID, CallSID: t.callSID}})
}

// inbound is a message from the bot: media, mark or clear.
type inbound struct {
	Event     string `json:"event"`
	StreamSID string `json:"streamSid"`
	Media     struct {
		Payload []byte `json:"payload"` // base64 in JSON, decoded by encoding/json
	} `json:"media"`
	Mark struct {
		Name string `json:"name"`
	} `json:"mark"`
}

// maxMarkName bounds a mark's name (it is echoed back).
const maxMarkName = 256

func (t *twilio) handle(binary bool, msg []byte, m Media) error {
	if binary {
		return fmt.Errorf("%w: a binary message; Twilio's protocol sends JSON text", errMalformed)
	}
	// The common case, media, without allocating: find the payload and
	// decode it into a reused buffer.
	ev, ok := stringField(msg, "event")
	p, okp := stringField(msg, "payload")
	if ok && okp && string(ev) == "media" && json.Valid(msg) {
		n := base64.StdEncoding.DecodedLen(len(p))
		if cap(t.audio) < n {
			t.audio = make([]byte, n)
		}
		n, err := base64.StdEncoding.Decode(t.audio[:n], p)
		if err != nil {
			return fmt.Errorf("%w: media.payload is not base64: %v", errMalformed, err)
		}
		m.Write(t.audio[:n]) // ErrQueueFull: the excess is dropped; a bot far ahead loses audio
		return nil
	}
	t.in = inbound{}
	if err := json.Unmarshal(msg, &t.in); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	switch t.in.Event {
	case "media":
		if t.in.Media.Payload == nil {
			return fmt.Errorf("%w: media without media.payload", errMalformed)
		}
		m.Write(t.in.Media.Payload)
	case "mark":
		if t.in.Mark.Name == "" || len(t.in.Mark.Name) > maxMarkName {
			return fmt.Errorf("%w: mark.name must be 1 to %d bytes", errMalformed, maxMarkName)
		}
		m.Mark(t.in.Mark.Name)
	case "clear":
		m.Clear()
	case "":
		return fmt.Errorf("%w: no event field", errMalformed)
	default:
		if t.logBad != nil {
			t.logBad(t.in.Event)
		}
	}
	return nil
}

// stringField finds "key": "value" in a JSON object and returns the raw
// value, ok false when it is absent, not a string, or has escapes (the
// slow path then decides). It does not allocate.
func stringField(msg []byte, key string) ([]byte, bool) {
	for off := 0; ; {
		i := bytes.Index(msg[off:], []byte(key))
		if i < 0 {
			return nil, false
		}
		i += off
		off = i + len(key)
		if i == 0 || msg[i-1] != '"' || off >= len(msg) || msg[off] != '"' {
			continue
		}
		rest := bytes.TrimLeft(msg[off+1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '"' {
			return nil, false
		}
		rest = rest[1:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
			return nil, false
		}
		return rest[:j], true
	}
}

// native speaks our own audio-stream format, as on /audio/{id}: binary
// PCM16 (little-endian) both ways plus JSON text control messages. Sent:
// {"type":"start",...}, {"type":"dtmf","digit"}, {"type":"mark","name",
// "cleared"}, {"type":"stop"}. Taken: {"type":"mark","name"},
// {"type":"clear"}.
type native struct {
	streamID, callID string
	rate             int
	params           map[string]string
}

type nativeMsg struct {
	Type       string            `json:"type"`
	StreamID   string            `json:"stream_id,omitempty"`
	CallID     string            `json:"call_id,omitempty"`
	Format     string            `json:"format,omitempty"`
	SampleRate int               `json:"sample_rate,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Digit      string            `json:"digit,omitempty"`
	Name       string            `json:"name,omitempty"`
	Cleared    bool              `json:"cleared,omitempty"`
}

func (n *native) opening() [][]byte {
	b, _ := json.Marshal(nativeMsg{Type: "start", StreamID: n.streamID, CallID: n.callID, Format: "pcm16", SampleRate: n.rate, Parameters: n.params})
	return [][]byte{b}
}

func (n *native) media(frame []byte, _ time.Duration) ([]byte, bool) { return frame, true }

func (n *native) dtmf(digit string) []byte {
	b, _ := json.Marshal(nativeMsg{Type: "dtmf", Digit: digit})
	return b
}

func (n *native) mark(name string, cleared bool) []byte {
	b, _ := json.Marshal(nativeMsg{Type: "mark", Name: name, Cleared: cleared})
	return b
}

func (n *native) stop() []byte { return []byte(`{"type":"stop"}`) }

func (n *native) handle(binary bool, msg []byte, m Media) error {
	if binary {
		m.Write(msg)
		return nil
	}
	var c nativeMsg
	if err := json.Unmarshal(msg, &c); err != nil {
		return fmt.Errorf("%w: control messages are JSON: %v", errMalformed, err)
	}
	switch c.Type {
	case "clear":
		m.Clear()
	case "mark":
		if c.Name == "" || len(c.Name) > maxMarkName {
			return fmt.Errorf("%w: mark needs a name of 1 to %d bytes", errMalformed, maxMarkName)
		}
		m.Mark(c.Name)
	default:
		return fmt.Errorf("%w: unknown message type %q; known: clear, mark", errMalformed, c.Type)
	}
	return nil
}
