package sipphone

import "time"

// KeyPress is a key (or hook flash) as one of the three DTMF methods
// delivered it: RFC 4733 telephone-events, SIP INFO, or tones in the audio.
// The line owner turns the presses of all methods into one event per press.
type KeyPress struct {
	Digit    string // "0"-"9", "*", "#", "A"-"D"; "" for a flash
	Flash    bool
	Method   string // MethodRFC4733, MethodSIPInfo or MethodInband
	Start    time.Time
	Duration time.Duration
	Begin    bool // a press began (for dtmf_start); Duration is 0
}

// The ways a key arrives, as the method field of dtmf events says.
const (
	MethodRFC4733 = "rfc4733"
	MethodSIPInfo = "sip_info"
	MethodInband  = "inband"
)
