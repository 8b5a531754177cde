package bot

import (
	"context"
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone"
)

type connectInput struct {
	ID   string `path:"id" doc:"Line id" maxLength:"64"`
	Body Request
}

type connectionOutput struct{ Body Connection }

type lineInput struct {
	ID string `path:"id" doc:"Line id" maxLength:"64"`
}

type connectionInput struct {
	ConnectionID string `path:"connection_id" doc:"Connection id from POST /lines/{id}/connect" maxLength:"64"`
}

type listOutput struct{ Body []Connection }

// Register adds the voice-bot endpoints to api.
func Register(api huma.API, m *Manager) {
	tags := []string{"Voice bots"}
	huma.Register(api, huma.Operation{OperationID: "connect-bot", Method: http.MethodPost, Path: "/lines/{id}/connect",
		Summary: "Connect the call to a voice bot", Tags: tags, DefaultStatus: http.StatusCreated,
		Description: "sipphone dials out to the bot's WebSocket (url, or the <Connect><Stream url> answered by twiml_url) and bridges " +
			"the line's call to it in Twilio's Media Streams protocol (or protocol sipphone). Answers at once; bot_connected or " +
			"bot_disconnected {reason, detail} follow. When the bot fails the phone hears a short tone and the call is hung up " +
			"unless hangup_on_close is false. 409 without a call or when the line already has a bot, 422 for a bad request."},
		func(ctx context.Context, in *connectInput) (*connectionOutput, error) {
			c, err := m.Connect(in.ID, in.Body)
			if err != nil {
				return nil, apiError(err)
			}
			return &connectionOutput{Body: c}, nil
		})
	huma.Register(api, huma.Operation{OperationID: "disconnect-bot", Method: http.MethodDelete, Path: "/lines/{id}/connect",
		Summary: "Disconnect the line's voice bot", Tags: tags,
		Description: "The bot gets a stop message and the WebSocket is closed; the call goes on. bot_disconnected {reason: stopped} follows. 404 when the line has no bot."},
		func(ctx context.Context, in *lineInput) (*connectionOutput, error) {
			c, err := m.Disconnect(in.ID, "")
			if err != nil {
				return nil, apiError(err)
			}
			return &connectionOutput{Body: c}, nil
		})
	huma.Register(api, huma.Operation{OperationID: "disconnect-bot-by-id", Method: http.MethodDelete, Path: "/connections/{connection_id}",
		Summary: "Disconnect a voice bot by connection id", Tags: tags,
		Description: "As DELETE /lines/{id}/connect, naming the connection. 404 for an unknown connection."},
		func(ctx context.Context, in *connectionInput) (*connectionOutput, error) {
			c, err := m.Disconnect("", in.ConnectionID)
			if err != nil {
				return nil, apiError(err)
			}
			return &connectionOutput{Body: c}, nil
		})
	huma.Register(api, huma.Operation{OperationID: "list-bot-connections", Method: http.MethodGet, Path: "/connections",
		Summary: "List voice-bot connections", Tags: tags},
		func(ctx context.Context, _ *struct{}) (*listOutput, error) {
			return &listOutput{Body: m.Connections()}, nil
		})
}

// apiError maps the manager's errors to problems.
func apiError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, sipphone.ErrLineNotFound), errors.Is(err, sipphone.ErrNotFound):
		return huma.Error404NotFound(msg)
	case errors.Is(err, sipphone.ErrNoCall), errors.Is(err, sipphone.ErrLineBusy):
		return huma.Error409Conflict(msg)
	case errors.Is(err, sipphone.ErrShuttingDown):
		return huma.Error503ServiceUnavailable(msg)
	case errors.Is(err, sipphone.ErrInvalid):
		return huma.Error422UnprocessableEntity(msg)
	}
	return huma.Error500InternalServerError(msg)
}
