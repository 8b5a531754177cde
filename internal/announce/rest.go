package announce

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sip-phone-api/sipphone"
)

// AnnounceInput is POST /lines/{id}/announce: either a JSON body (a
// Request naming audio_url) or the audio itself as the body (WAV or MP3)
// with the options in the query.
type AnnounceInput struct {
	ID           string  `path:"id" doc:"Line id" maxLength:"32"`
	ContentType  string  `header:"Content-Type"`
	CallerName   string  `query:"caller_name" doc:"With an audio body: caller name shown while ringing" maxLength:"64"`
	CallerNumber string  `query:"caller_number" doc:"With an audio body: caller number shown while ringing" maxLength:"32" pattern:"^[0-9A-Za-z*#+._-]*$"`
	Pattern      string  `query:"pattern" doc:"With an audio body: ring pattern name" maxLength:"32"`
	TimeoutS     float64 `query:"timeout_s" doc:"With an audio body: seconds to ring" minimum:"0" maximum:"600"`
	Repeat       int     `query:"repeat" doc:"With an audio body: times the message is played (default 1)" minimum:"0" maximum:"20"`
	PauseS       float64 `query:"pause_s" doc:"With an audio body: seconds between repetitions (default 1)" minimum:"0" maximum:"60"`
	Hangup       string  `query:"hangup" doc:"With an audio body: false keeps the call up after the message" enum:"true,false,"`
	RawBody      []byte  `contentType:"audio/wav" doc:"A WAV (16-bit PCM at any rate, mu-law or A-law) or MP3 file; or, with Content-Type application/json, {audio_url, caller_id, pattern, timeout_s, repeat, pause_s, hangup}"`
}

// AnnounceOutput answers an announce under way.
type AnnounceOutput struct{ Body Started }

// MaxBody bounds the request body.
const MaxBody = 32 << 20

// Register adds POST /lines/{id}/announce to api. errFn maps domain errors
// to HTTP problems (the API's own mapping); nil uses a built-in one.
func Register(api huma.API, a *Announcer, errFn func(error) error) {
	if errFn == nil {
		errFn = HTTPError
	}
	huma.Register(api, huma.Operation{OperationID: "announce", Method: http.MethodPost, Path: "/lines/{id}/announce",
		Summary: "Ring, play a message when answered, hang up", Tags: []string{"Audio"}, DefaultStatus: http.StatusAccepted, MaxBodyBytes: MaxBody,
		Description: "Rings the line; when the phone is answered plays the message (repeat times, pause_s apart), waits until its last " +
			"sample has been sent and hangs up (unless hangup is false). The audio is the body (WAV or MP3) with options in the query, or a JSON " +
			"body naming audio_url (fetched with the limits of announce.*). Events: announce_start, then announce_done with reason played, " +
			"no_answer, hung_up_early or failed; both carry the announce's ring_id. Keys pressed meanwhile arrive as dtmf events. " +
			"409 when the line is busy, 503 when it is not registered, 422 for audio that cannot be read or fetched.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}},
		func(ctx context.Context, in *AnnounceInput) (*AnnounceOutput, error) {
			var req Request
			audio := in.RawBody
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(in.ContentType)), "application/json") {
				if err := jsonUnmarshal(in.RawBody, &req); err != nil {
					return nil, huma.Error422UnprocessableEntity("the JSON body must be {\"audio_url\":\"http://...\", ...}: " + err.Error())
				}
				audio = nil
			} else {
				if len(audio) == 0 {
					return nil, huma.Error422UnprocessableEntity("send the audio (WAV or MP3) as the body, or a JSON body with audio_url")
				}
				req = Request{Pattern: in.Pattern, TimeoutS: in.TimeoutS, Repeat: in.Repeat, PauseS: in.PauseS}
				if in.CallerName != "" || in.CallerNumber != "" {
					req.CallerID = &sipphone.CallerID{Name: in.CallerName, Number: in.CallerNumber}
				}
				if in.Hangup != "" {
					h := in.Hangup == "true"
					req.Hangup = &h
				}
			}
			st, err := a.Start(ctx, in.ID, req, audio)
			if err != nil {
				return nil, errFn(err)
			}
			return &AnnounceOutput{Body: st}, nil
		})
}

// HTTPError maps domain errors to problems as the REST API does.
func HTTPError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, sipphone.ErrLineNotFound), errors.Is(err, sipphone.ErrNotFound):
		return huma.Error404NotFound(msg)
	case errors.Is(err, sipphone.ErrLineBusy), errors.Is(err, sipphone.ErrNoCall), errors.Is(err, sipphone.ErrNotRinging):
		return huma.Error409Conflict(msg)
	case errors.Is(err, sipphone.ErrNotRegistered), errors.Is(err, sipphone.ErrShuttingDown):
		return huma.Error503ServiceUnavailable(msg)
	case errors.Is(err, sipphone.ErrInvalid):
		return huma.Error422UnprocessableEntity(msg)
	}
	return huma.Error500InternalServerError(msg)
}
