// Package jitter puts the RTP packets of one received audio stream back in
// order with as little delay as possible: the receive-side jitter buffer
// between the phone's G.711 RTP and the audio sent to listeners.
//
// The listeners are programs, not a sound card, so [Buffer] never plays
// out on a clock: a frame is released as soon as every frame before it has
// been released. Only when a sequence gap appears are later packets held,
// and then for at most the current target delay after they arrived; when
// that expires the missing frame is released as lost, for the caller to
// conceal (see [Concealer]). The target delay follows the interarrival
// jitter the buffer measures (RFC 3550 section 6.4.1 and appendix A.8), so
// on a clean path it holds nothing at all, and [Config.MaxDelay] is a hard
// bound on the audio held.
//
// With [Config.Paced] (what the media of a call uses) the output is paced
// by the receiver's own clock instead: one frame per frame time whatever
// the network does. A frame that is missing at its slot is concealed even
// with nothing behind it, a packet that arrives after its slot is dropped
// as Late, and the slot delay follows the largest lateness of arrivals
// over the last seconds (at most MaxDelay). A packet that is there is
// released up to half a frame before its slot, so on a clean path it
// still goes out on arrival. See playout.go.
//
// Packets that arrive twice, or after their frame was released or
// concealed, are dropped and counted. Sequence numbers wrap at 16 bits and
// timestamps at 32. A new SSRC, or two consecutive packets far from the
// expected sequence number (RFC 3550 appendix A.1 calls this probation),
// restart the stream.
//
// A Buffer has no goroutines, no locks and no I/O: the caller serialises
// calls and passes the time in. Push and Pop do not allocate once the
// buffer has seen frames of the stream's size.
package jitter
