// Package line is the one owner of every line and every call. It keeps the
// registry of lines (by SIP user and id) and of calls (by SIP Call-ID), the
// hook state of each line, rings in progress, the call's media and the audio
// streams attached to it, and the last key pressed. The SIP side
// (internal/sipserver) reports SIP facts to it through sipphone.CallFacts and
// sends the SIP messages it orders through sipphone.Signaller; it keeps no
// call registry of its own and never touches media. The API and other faces
// use it through sipphone.Lines. Every change is made under one mutex and
// published as an event in the same critical section, so events and state
// never disagree and event order is state order.
//
// # The life of a line
//
//	                 REGISTER                     ring (POST /ring): INVITE sent
//	unregistered ──────────────► on_hook ───────────────────────────────► ringing
//	     ▲  ◄─── expiry, Expires 0 ─┘ ▲ ▲ ◄──── 4xx-6xx, CANCEL, timeout ─┘  │
//	     │                            │ │                                    │ 200 OK (answered)
//	     │                BYE from    │ │   INVITE from the phone            ▼
//	     │                the phone   │ └──────────────────────────────► off_hook
//	     │                            └──────────────────────────────────┘  │
//	     │                                                                   │ we hang up (API, shutdown,
//	     │                                                                   ▼ no ACK): BYE sent
//	     └──────── binding expires ──────── unknown ──── INVITE ───► off_hook
//
// After our own BYE the adapter plays reorder tone to a handset that may
// still be lifted and says nothing when it is put down: the hook state is
// unknown until the phone's next call: its INVITE makes it off_hook, and the
// BYE that ends that call on_hook.
//
// # The life of a call
//
// A call enters the registry when the owner accepts the phone's INVITE
// (IncomingCall: an RTP port is reserved) or places a ring (Ring: a port is
// reserved and the SIP side builds the INVITE, under the owner's lock, so the
// call and its dialog become visible together). CallAnswered starts its
// media; the owner alone closes it, releases the port and forgets the call
// when the phone ends it (CallEnded), the ring ends unanswered (RingEnded), or
// we end it (Hangup, ServerEndedCall, RTP timeout, Shutdown).
//
// # Locks
//
// Lock order: Manager.mu, then the SIP side's goroutine-tracking lock
// (Signaller.Ring is called with mu held and does no I/O), the media call's
// lock and the media clock's lock (media is started and streams attached
// with mu held), then the event bus's lock (Publish is called with mu held
// and never blocks). mu is never held across network or file I/O and never
// while waiting for a media goroutine: media.Call.Close and the release of
// RTP ports happen after unlocking, and BYE and CANCEL are sent from
// goroutines the manager owns.
//
// It is somewhat over 1,000 lines: registrations, calls, rings, keys and streams are one concern
// here because they change under one lock and one event order.
package line
