// Package sipphone is the domain of the sip-phone-api service: lines and
// their states, calls, rings, events, and the errors that cross between the
// SIP side, the line state owner and the API. It holds types only; the parts
// that speak protocols live under internal/ and are wired by cmd/sipphone.
package sipphone

import (
	"errors"
	"time"
)

// LineState is the hook state of one FXS port as the server knows it.
type LineState string

// Line states. A line moves between them only through SIP facts (REGISTER,
// INVITE, BYE, CANCEL, responses to our INVITE) or expiry.
const (
	// StateUnregistered: no live binding; the phone cannot be rung.
	StateUnregistered LineState = "unregistered"
	// StateOnHook: registered and idle, handset down as far as SIP tells.
	StateOnHook LineState = "on_hook"
	// StateRinging: our INVITE is ringing the phone.
	StateRinging LineState = "ringing"
	// StateOffHook: a call is up (the handset was lifted, or answered a ring).
	StateOffHook LineState = "off_hook"
	// StateUnknown: we ended the call ourselves. The adapter plays reorder
	// tone to a handset that may still be lifted and says nothing when it is
	// put down, so the hook state is unknown until the next SIP event.
	StateUnknown LineState = "unknown"
)

// CallerID is what the phone shows for a ring: the From display name and user.
type CallerID struct {
	Name   string `json:"name,omitempty" doc:"Caller name shown on the phone (From display name)" maxLength:"64"`
	Number string `json:"number,omitempty" doc:"Caller number shown on the phone (From user part)" maxLength:"32" pattern:"^[0-9A-Za-z*#+._-]*$"`
}

// Direction of a call as seen from the server.
type Direction string

// Call directions.
const (
	// FromPhone: the handset was lifted (Offhook Auto-Dial) or digits dialed.
	FromPhone Direction = "from_phone"
	// ToPhone: we rang the phone and it was answered.
	ToPhone Direction = "to_phone"
)

// RingOutcome is why a ring ended; it is the reason of a ring_stop event.
type RingOutcome string

// Ring outcomes.
const (
	RingAnswered RingOutcome = "answered"
	RingStopped  RingOutcome = "stopped"
	RingTimeout  RingOutcome = "timeout"
	RingBusy     RingOutcome = "busy"
	RingRejected RingOutcome = "rejected"
	RingFailed   RingOutcome = "failed"
)

// Errors the line owner returns and the API maps to HTTP statuses in one place.
var (
	// ErrLineNotFound: no line has that id (404).
	ErrLineNotFound = errors.New("no such line")
	// ErrLineBusy: the line is ringing or off-hook (409).
	ErrLineBusy = errors.New("line is busy")
	// ErrNotRegistered: the line has no registration to reach it (503).
	ErrNotRegistered = errors.New("line is not registered")
	// ErrNoCall: the operation needs an active call and there is none (409).
	ErrNoCall = errors.New("line has no active call")
	// ErrNotFound: a stream or other resource with that id does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrNotRinging: stop was asked for a line that is not ringing (409).
	ErrNotRinging = errors.New("line is not ringing")
	// ErrInvalid: a request value is not acceptable (422).
	ErrInvalid = errors.New("invalid request")
	// ErrShuttingDown: the server is stopping and takes no new work (503).
	ErrShuttingDown = errors.New("server is shutting down")
	// ErrNoResources: the server cannot take the call now, e.g. no RTP port
	// is free (503).
	ErrNoResources = errors.New("no resources for the call")
)

// Registration is the binding of a line's SIP user to the adapter port's
// Contact, as learned from REGISTER.
type Registration struct {
	Contact   string    `json:"contact" doc:"Contact URI the port registered"`
	Source    string    `json:"source" doc:"Address the REGISTER came from (host:port); requests are sent here"`
	Transport string    `json:"transport" doc:"udp or tcp"`
	UserAgent string    `json:"user_agent,omitempty"`
	Expires   time.Time `json:"expires"`
	Since     time.Time `json:"since"`
}

// SIPMessage is one SIP message the server sent or received, as kept for
// diagnostics.
type SIPMessage struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction" enum:"in,out"`
	Transport string    `json:"transport"`
	Peer      string    `json:"peer"`
	FirstLine string    `json:"first_line"`
	Size      int       `json:"size"`
	Text      string    `json:"text,omitempty" doc:"The whole message, when SIP tracing was on"`
}
