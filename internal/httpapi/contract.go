package httpapi

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// The API contract beyond what the handler types say: which errors each
// operation can answer (RFC 9457 problem+json, with an example each), the
// servers, license, contact and tag descriptions. documentContract runs
// after every route is registered, so a new operation gets the errors every
// operation has (401, 500, and 422 when it takes input) without a line here.

// operationErrors are the statuses an operation answers besides 401, 422
// and 500, by operation id.
var operationErrors = map[string][]int{
	"get-line":       {404},
	"ring":           {404, 409, 503},
	"ring-line":      {404, 409, 503},
	"stop-ring":      {404, 409},
	"stop-ring-post": {404, 409},
	"stop-ring-line": {404, 409},
	"hangup":         {404, 409},
	"hangup-line":    {404, 409},
	"audio-start":    {404, 409, 503},
	"audio-stop":     {404},
	"loopback":       {404, 409},
	"play":           {404, 409, 413},
	"sip-trace":      {503},
}

// errorExamples are what each status looks like, for the documentation.
var errorExamples = map[int]huma.ErrorModel{
	http.StatusBadRequest:            {Title: "Bad Request", Status: 400, Detail: "request body is not valid JSON"},
	http.StatusUnauthorized:          {Title: "Unauthorized", Status: 401, Detail: "missing or wrong API token: send Authorization: Bearer <token> (or ?token= on WebSockets)"},
	http.StatusNotFound:              {Title: "Not Found", Status: 404, Detail: `no such line: "hall" (known lines: kitchen, phone2)`},
	http.StatusConflict:              {Title: "Conflict", Status: 409, Detail: `line is busy: line "kitchen" is off-hook in call 3f2a9c@10.0.0.2`},
	http.StatusRequestEntityTooLarge: {Title: "Request Entity Too Large", Status: 413, Detail: "request body is too large"},
	http.StatusUnprocessableEntity:   {Title: "Unprocessable Entity", Status: 422, Detail: `invalid request: unknown ring pattern "ring11"; configured patterns: ring1, ring2, ring3`},
	http.StatusInternalServerError:   {Title: "Internal Server Error", Status: 500, Detail: "unexpected error; see the server log"},
	http.StatusServiceUnavailable:    {Title: "Service Unavailable", Status: 503, Detail: `line is not registered: line "kitchen" has no registration; check the adapter's SIP server setting and GET /diagnostics`},
}

// tagDescriptions describe the operation groups of /docs.
var tagDescriptions = []*huma.Tag{
	{Name: "Lines", Description: "The adapter's ports: registration, hook state, the call and the last key of each."},
	{Name: "Ringing", Description: "Make the phone ring with caller ID and a distinctive ring, and stop it."},
	{Name: "Calls", Description: "End the call in progress."},
	{Name: "Audio", Description: "Stream the phone's microphone and speak into its earpiece over a WebSocket, play WAV files, loopback."},
	{Name: "Operations", Description: "Diagnostics and SIP tracing for troubleshooting."},
}

func documentContract(oapi *huma.OpenAPI) {
	oapi.Info.License = &huma.License{Name: "MIT", Identifier: "MIT"}
	oapi.Info.Contact = &huma.Contact{Name: "sipphone", URL: "https://github.com/sip-phone-api/sipphone"}
	if len(oapi.Servers) == 0 {
		// Relative: the server that serves this document (its REST port).
		oapi.Servers = []*huma.Server{{URL: "/", Description: "this sipphone server (server.rest_port, 8000 by default)"}}
	}
	for _, t := range tagDescriptions {
		if !slices.ContainsFunc(oapi.Tags, func(x *huma.Tag) bool { return x.Name == t.Name }) {
			oapi.Tags = append(oapi.Tags, t)
		}
	}
	documentExamplesAndMessages(oapi)
	if oapi.Paths == nil {
		return
	}
	for _, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			codes := append([]int{http.StatusUnauthorized, http.StatusInternalServerError}, operationErrors[op.OperationID]...)
			if op.RequestBody != nil || len(op.Parameters) > 0 {
				codes = append(codes, http.StatusUnprocessableEntity)
			}
			if op.RequestBody != nil {
				codes = append(codes, http.StatusBadRequest)
			}
			for _, code := range codes {
				addError(op, code)
			}
		}
	}
}

// addError documents one problem+json answer of op, with an example.
func addError(op *huma.Operation, code int) {
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	key := strconv.Itoa(code)
	r := op.Responses[key]
	if r == nil {
		r = &huma.Response{Description: http.StatusText(code)}
		op.Responses[key] = r
	}
	if r.Content == nil {
		r.Content = map[string]*huma.MediaType{}
	}
	mt := r.Content["application/problem+json"]
	if mt == nil {
		mt = &huma.MediaType{Schema: &huma.Schema{Ref: "#/components/schemas/ErrorModel"}}
		r.Content["application/problem+json"] = mt
	}
	if ex, ok := errorExamples[code]; ok && mt.Example == nil {
		mt.Example = ex
	}
	// Huma's catch-all "default" error response says no more than these.
	delete(op.Responses, "default")
}
