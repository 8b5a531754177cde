package sipphone

// Events of the voice-bot bridge (POST /lines/{id}/connect). The
// connection id is carried in StreamID: a bridge is an audio stream whose
// client is a bot sipphone dialed out to.
const (
	// EventBotConnected: the bot's WebSocket is open and the start message
	// was sent. Fields: line, call_id, stream_id (the connection id).
	EventBotConnected = "bot_connected"
	// EventBotDisconnected: the bridge ended. Fields: line, stream_id,
	// reason (unreachable, tls_error, twiml_error, closed, connection_lost,
	// malformed_message, too_slow, call_ended, stopped, shutdown) and detail.
	EventBotDisconnected = "bot_disconnected"
)

func init() {
	EventTypes = append(EventTypes, EventBotConnected, EventBotDisconnected)
}
