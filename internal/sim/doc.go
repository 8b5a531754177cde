// Package sim is a simulated Grandstream HT802 analog telephone adapter: a SIP
// user agent (on sipgo) and an RTP endpoint that behave on the wire like the
// adapter, so the product can be tried and tested without hardware.
//
// Each port (line) has its own local SIP port, registers on its own with its
// User ID and digest credentials, answers OPTIONS, and is driven like an
// analog phone: OffHook dials the Offhook Auto-Dial number, Dial sends an
// INVITE for collected digits, OnHook sends BYE or CANCEL, and an incoming
// INVITE rings the line (100 Trying, 180 Ringing) until it is answered
// automatically, by Answer, refused, or cancelled. Once a call is up the line
// streams 20 ms G.711 packets (silence, a tone or given samples), records what
// it receives, and sends keys by RFC 4733 telephone-events, SIP INFO or tones
// inside the audio.
//
// The simulator is deliberately an independent peer: it has its own SDP,
// WAV and G.711 code instead of importing the server's (internal/sdp,
// internal/dsp), so that a mistake in one is not mirrored in the other and
// the tests that run it against the server can catch it.
//
// Lines are numbered from 0 in the Go API (the index into Config.Lines) and
// from 1 on the command line and in every message, like the adapter's FXS1
// and FXS2.
//
// Lifecycle: New validates and builds without network activity; Start binds
// and registers; Close hangs up, stops every goroutine and frees the sockets.
// Close must be called after New even when Start failed.
//
// It is the largest package (about 3,300 lines) because it is a whole SIP phone with its own SDP,
// WAV and G.711 code, on purpose (see above).
package sim
