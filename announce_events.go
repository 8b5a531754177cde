package sipphone

// Event types of the announce flow (ring, play a message when answered,
// hang up). An announce is identified by the ring id it started: both
// events carry RingID; announce_done carries CallID when the phone
// answered and Reason (one of the Announce* reasons).
const (
	EventAnnounceStart = "announce_start"
	EventAnnounceDone  = "announce_done"
)

// Reasons of an announce_done event.
const (
	// AnnouncePlayed: the message was played to its last sample.
	AnnouncePlayed = "played"
	// AnnounceNoAnswer: the ring ended unanswered (timeout, busy,
	// rejected or stopped).
	AnnounceNoAnswer = "no_answer"
	// AnnounceHungUpEarly: the handset was put down before the end.
	AnnounceHungUpEarly = "hung_up_early"
	// AnnounceFailed: the ring or the playback failed.
	AnnounceFailed = "failed"
)

func init() {
	// Clients may filter on the announce events like on any other.
	EventTypes = append(EventTypes, EventAnnounceStart, EventAnnounceDone)
}
