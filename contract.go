package sipphone

import (
	"context"
	"net/netip"
	"time"
)

// The parts of sipphone meet at the interfaces below. Facts flow one way:
// the SIP side reports what the phone did (CallFacts), the line owner
// decides and keeps the state, and orders the SIP side (Signaller); the API,
// MQTT and other faces ask the line owner (Lines). Each side can be tested
// with a fake of the other.

// RingOptions are the caller's wishes for a ring.
type RingOptions struct {
	CallerID CallerID
	Pattern  string        // ring pattern name, "" for the adapter's default ring
	Timeout  time.Duration // 0: ht802.ring_timeout
}

// Lines is the line owner as the API and other faces see it: the state of
// every line and the commands that change it. Line ids may be "" for the
// first line; methods that take one return the id they resolved.
type Lines interface {
	Status() []LineStatus
	Line(id string) (LineStatus, error)
	// Ring rings a line; progress arrives as events. It returns the ring id.
	Ring(lineID string, o RingOptions) (ringID, resolved string, err error)
	StopRing(lineID string) (string, error)
	// Hangup ends the line's call (or stops its ring).
	Hangup(lineID string) (string, error)
	SetLoopback(lineID string, on bool) (string, error)
	// Play queues 8 kHz audio into the line's call; playback_done follows.
	Play(lineID string, pcm []int16) (playbackID, resolved string, err error)
}

// Dialog is the SIP side's handle on the dialog of one call. The line owner
// keeps it with the call and hands it back when it orders the SIP side to
// act on that call; only the SIP side looks inside.
type Dialog interface {
	CallID() string
}

// RingRequest is a ring the line owner orders the SIP side to place.
type RingRequest struct {
	CallID    string // chosen by the owner: the call's key from the start
	RingID    string
	LineID    string
	User      string
	Reg       Registration
	CallerID  CallerID
	AlertInfo string
	Timeout   time.Duration
	RTPPort   int // our RTP port for the SDP offer, reserved by the owner
}

// Signaller is the SIP side as the line owner orders it. Methods return at
// once unless they say otherwise; outcomes come back through CallFacts.
type Signaller interface {
	// Ring builds the INVITE for r and sends it from a goroutine of the
	// SIP side. Exactly one of CallAnswered or RingEnded follows for
	// r.CallID, with RingSent and RingProgress before them when they happen.
	// An error means nothing was sent.
	Ring(r RingRequest) (Dialog, error)
	// CancelRing stops a ring with CANCEL (RingEnded follows, or
	// CallAnswered when the answer crossed).
	CancelRing(d Dialog, reason RingOutcome)
	// Hangup ends an answered call with BYE and returns when the phone
	// answered it or ctx ended.
	Hangup(ctx context.Context, d Dialog)
}

// IncomingCall is an INVITE from the phone that passed authentication.
type IncomingCall struct {
	User   string // the From user: which line
	CallID string
	Dialed string // the Request-URI user
	Dialog Dialog
}

// MediaParams are what the offer/answer agreed for a call's RTP.
type MediaParams struct {
	Codec   string // PCMU or PCMA
	PT      uint8
	EventPT int // telephone-event payload type, -1 when none
	PTime   time.Duration
	Remote  netip.AddrPort // the phone's RTP address from its SDP
	Peer    netip.Addr     // the phone's signalling address (for the symmetric-RTP latch)
	Local   netip.AddrPort // our RTP address as advertised in SDP
}

// CallFacts is the line owner as the SIP side reports to it. The SIP side
// keeps no registry of calls of its own: it finds a call's dialog here.
type CallFacts interface {
	// IsLine reports whether a SIP user is (or may become) a line.
	IsLine(user string) bool
	// Register records a binding; it returns the line id or ErrLineNotFound.
	Register(user string, reg Registration) (string, error)
	// Unregister removes a binding (Expires 0, Contact *).
	Unregister(user, reason string)
	// Binding returns a user's live binding (for a REGISTER that asks).
	Binding(user string) (Registration, bool)
	// IncomingCall decides whether the phone's INVITE may be answered and
	// reserves the call's RTP port: it returns the line id and the port, or
	// ErrLineNotFound, ErrNotRegistered, ErrLineBusy, ErrShuttingDown or
	// ErrNoResources.
	IncomingCall(c IncomingCall) (lineID string, rtpPort int, err error)
	// CallAnswered starts the call's media and makes the line off-hook: for
	// an incoming call just before our 200 OK leaves, for a ring when the
	// phone's 200 OK arrived.
	CallAnswered(callID string, m MediaParams) error
	// RingSent: our INVITE left. RingProgress: the phone answered 180 (it
	// is really ringing).
	RingSent(callID string)
	RingProgress(callID string)
	// RingEnded: our ring ended unanswered; detail says why (SIP status or
	// local cause).
	RingEnded(callID string, outcome RingOutcome, detail string)
	// CallEnded: the phone ended the call (reason "bye", "cancel") or it
	// failed before it was up.
	CallEnded(callID, reason string)
	// ServerEndedCall: we end the call ourselves (no ACK); the hook state
	// becomes unknown. The SIP side sends the BYE.
	ServerEndedCall(callID, reason string)
	// KeyPressed reports a key sent by SIP INFO.
	KeyPressed(callID string, p KeyPress)
	// Dialog returns the dialog of a call the owner knows.
	Dialog(callID string) (Dialog, bool)
	// RegisteredFrom reports whether a line's binding came from addr
	// (host:port): the only addresses the SIP side may connect to.
	RegisteredFrom(addr string) bool
}
