// Package rfc4733 turns RFC 4733 telephone-event RTP payloads into key
// presses: the DTMF keys 0-9, *, #, A-D and the hook flash (event 16).
//
// A sender reports one key press as a series of packets that share one RTP
// timestamp, the time the press began (RFC 4733 section 2.5.1): a start
// packet with the marker bit, updates with a growing duration every 50 ms
// or so, and an end packet (E bit) sent three times (section 2.5.1.4).
// [Receiver] counts each press once however many of these packets arrive,
// twice or out of order: a press whose start packet was lost begins at the
// first packet seen, a press whose end packets were all lost ends on a
// timeout (see [Receiver.Tick]), a press reported in several segments
// because it lasted longer than the 16-bit duration field can say (section
// 2.5.1.3) counts once, and a packet with a newer timestamp ends the press
// that is still open.
//
// The caller passes only telephone-event packets of one RTP stream (the
// payload type is whatever the SDP negotiated) and serialises the calls:
// a Receiver has no goroutines, no locks and no I/O, takes the time as an
// argument, and does not allocate per packet.
package rfc4733
