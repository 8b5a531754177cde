package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/contractcheck"
	"github.com/sip-phone-api/sipphone/internal/events"
)

type mediaDoc struct {
	Example  json.RawMessage            `json:"example"`
	Examples map[string]json.RawMessage `json:"examples"`
}

type operationDoc struct {
	OperationID string `json:"operationId"`
	Parameters  []struct {
		Name     string                     `json:"name"`
		In       string                     `json:"in"`
		Example  json.RawMessage            `json:"example"`
		Examples map[string]json.RawMessage `json:"examples"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]mediaDoc `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]mediaDoc `json:"content"`
	} `json:"responses"`
}

func servedDocument(t *testing.T) []byte {
	t.Helper()
	srv, _ := newTestAPI(t)
	code, _, body := call(t, srv, http.MethodGet, "/openapi.json", "")
	if code != http.StatusOK {
		t.Fatalf("/openapi.json = %d", code)
	}
	return []byte(body)
}

// TestContractExamples: every parameter, request body and answer of every
// operation in the served document has an example, and each JSON example
// validates against its schema. The operations are read from the document,
// so an operation added later fails here until contract_examples.go has its
// examples.
func TestContractExamples(t *testing.T) {
	raw := servedDocument(t)
	var doc struct {
		Paths map[string]map[string]operationDoc `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	check, err := contractcheck.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	validated := 0
	media := func(where, ptr string, content map[string]mediaDoc) {
		if len(content) == 0 {
			return
		}
		for ct, m := range content {
			at := ptr + "/content/" + contractcheck.Pointer(ct)
			switch {
			case isJSON(ct) && m.Example == nil:
				t.Errorf("%s (%s) has no example", where, ct)
			case isJSON(ct):
				if err := check.Validate(at+"/schema", m.Example); err != nil {
					t.Errorf("%s example: %v", where, err)
				}
				validated++
			case m.Example == nil && len(m.Examples) == 0:
				t.Errorf("%s (%s) has no example", where, ct)
			}
		}
	}
	ops := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			ops++
			name := strings.ToUpper(method) + " " + path + " (" + op.OperationID + ")"
			ptr := "#/paths/" + contractcheck.Pointer(path) + "/" + method
			for i, p := range op.Parameters {
				if p.Example == nil && len(p.Examples) == 0 {
					t.Errorf("%s: parameter %s has no example", name, p.Name)
					continue
				}
				if p.Example != nil {
					if err := check.Validate(ptr+"/parameters/"+strconv.Itoa(i)+"/schema", p.Example); err != nil {
						t.Errorf("%s: parameter %s example: %v", name, p.Name, err)
					}
				}
			}
			if op.RequestBody != nil {
				media(name+" request body", ptr+"/requestBody", op.RequestBody.Content)
			}
			ok2xx := false
			for code, r := range op.Responses {
				if code[0] == '2' {
					ok2xx = true
					if len(r.Content) == 0 && code != "204" {
						t.Errorf("%s: %s answer has no content to exemplify", name, code)
					}
				}
				media(name+" answer "+code, ptr+"/responses/"+code, r.Content)
			}
			if !ok2xx {
				t.Errorf("%s documents no success answer", name)
			}
		}
	}
	if ops < 16 || validated < 3*ops {
		t.Fatalf("%d operations, %d examples validated", ops, validated)
	}
}

// TestContractExamplesCatchMistakes: the checks above fail for an example
// that does not match its schema and for an operation without examples.
func TestContractExamplesCatchMistakes(t *testing.T) {
	raw := servedDocument(t)
	check, err := contractcheck.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate("#/components/schemas/RingResult", []byte(`{"ring_id":"r1"}`)); err == nil {
		t.Fatal("a RingResult without line validated")
	}
	if err := check.Validate("#/components/schemas/RingBody", []byte(`{"timeout_s":"soon"}`)); err == nil {
		t.Fatal("a RingBody with a string timeout validated")
	}
	op := &huma.Operation{OperationID: "not-documented", RequestBody: &huma.RequestBody{Content: map[string]*huma.MediaType{"application/json": {}}},
		Responses: map[string]*huma.Response{"200": {Content: map[string]*huma.MediaType{"application/json": {}}}}}
	documentExamples(op)
	if op.RequestBody.Content["application/json"].Example != nil || op.Responses["200"].Content["application/json"].Example != nil {
		t.Fatal("an operation without examples in contract_examples.go got some")
	}
}

// newTestOpenAPI builds the API as NewREST does and returns its document.
func newTestOpenAPI(t *testing.T) *huma.OpenAPI {
	t.Helper()
	f := &fakeLines{bus: events.New(16, 0)}
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("sipphone API", "test")
	cfg.DocsPath = "" // as NewREST: /docs is a route of its own
	api := humago.New(mux, cfg)
	routes(api, mux, Deps{Lines: f, Bus: f.bus, Version: "test", Started: time.Now()})
	documentContract(api.OpenAPI())
	return api.OpenAPI()
}

// TestWebSocketSchemas: the document links the WebSocket endpoints to their
// message schemas, every event type has a schema, and the standalone JSON
// Schema document accepts well-formed messages and refuses malformed ones.
func TestWebSocketSchemas(t *testing.T) {
	raw := servedDocument(t)
	var doc struct {
		WS struct {
			Channels map[string]map[string]any `json:"channels"`
			Schemas  map[string]struct {
				Examples      []json.RawMessage `json:"examples"`
				OneOf         []any             `json:"oneOf"`
				Discriminator *struct {
					Mapping map[string]string `json:"mapping"`
				} `json:"discriminator"`
			} `json:"schemas"`
		} `json:"x-websockets"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.WS.Channels["/ws"]["serverMessages"] == nil || doc.WS.Channels["/audio/{id}"]["clientMessages"] == nil ||
		doc.WS.Channels["/audio/{id}"]["serverMessages"] == nil {
		t.Fatalf("x-websockets channels: %+v", doc.WS.Channels)
	}
	ev := doc.WS.Schemas[SchemaWebSocketEvent]
	if ev.Discriminator == nil {
		t.Fatal("no WebSocketEvent schema with a discriminator")
	}
	var mapped []string
	for typ := range ev.Discriminator.Mapping {
		mapped = append(mapped, typ)
	}
	sort.Strings(mapped)
	want := append([]string{sipphone.EventState, sipphone.EventGap}, sipphone.EventTypes...)
	sort.Strings(want)
	if !slices.Equal(mapped, want) {
		t.Fatalf("event types with a schema %v, want %v", mapped, want)
	}

	// Every message schema has an example that it accepts.
	inDoc, err := contractcheck.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, sch := range doc.WS.Schemas {
		if sch.OneOf != nil {
			continue // a union: its members have the examples
		}
		if len(sch.Examples) == 0 {
			t.Errorf("x-websockets schema %s has no example", name)
		}
		for _, ex := range sch.Examples {
			if err := inDoc.Validate("#/x-websockets/schemas/"+name, ex); err != nil {
				t.Errorf("x-websockets schema %s example: %v", name, err)
			}
			if err := inDoc.Validate("#/x-websockets/schemas/"+name, bytes.Replace(ex, []byte(`"type":"`), []byte(`"type":"x`), 1)); err == nil {
				t.Errorf("x-websockets schema %s accepts its example with another type", name)
			}
		}
	}

	srv := httptest.NewServer(WebSocketSchemaHandler(newTestOpenAPI(t)))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var schemaDoc json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&schemaDoc); err != nil || res.Header.Get("Content-Type") != "application/schema+json" {
		t.Fatalf("schema document %q: %v", res.Header.Get("Content-Type"), err)
	}
	res.Body.Close()
	if strings.Contains(string(schemaDoc), "#/components/") || strings.Contains(string(schemaDoc), "#/x-websockets/") {
		t.Fatal("the standalone schema refers outside itself")
	}
	check, err := contractcheck.New(schemaDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		def, msg string
		ok       bool
	}{
		{SchemaWebSocketEvent, `{"type":"dtmf","line":"kitchen","seq":7,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"c1","digit":"5","method":"rfc4733","duration_ms":120}`, true},
		{SchemaWebSocketEvent, `{"type":"dtmf","line":"kitchen","seq":7,"timestamp":"2026-06-01T18:30:00.000Z","call_id":"c1","digit":"55","method":"rfc4733","duration_ms":120}`, false},
		{SchemaWebSocketEvent, `{"type":"ring_stop","line":"kitchen","seq":8,"timestamp":"2026-06-01T18:30:00.000Z","ring_id":"r1","reason":"answered","surprise":1}`, false},
		{SchemaWebSocketEvent, `{"type":"telepathy","seq":8,"timestamp":"2026-06-01T18:30:00.000Z"}`, false},
		{SchemaWebSocketEvent, `{"type":"state","seq":0,"timestamp":"2026-06-01T18:30:00.000Z","lines":[{"id":"kitchen","user":"phone1","registered":false,"state":"unregistered","off_hook":false,"audio_streaming":false}]}`, true},
		{SchemaWebSocketEvent, `{"type":"gap","seq":9,"timestamp":"yesterday","from":1,"to":3}`, false},
		{SchemaAudioClientMessage, `{"type":"mark","name":"greeting-done"}`, true},
		{SchemaAudioClientMessage, `{"type":"mark"}`, false},
		{SchemaAudioServerMessage, `{"type":"mark","name":"greeting-done","cleared":true}`, true},
		{SchemaAudioServerMessage, `{"type":"error","message":"mark needs a name"}`, true},
	} {
		err := check.Validate("#/$defs/"+c.def, []byte(c.msg))
		if (err == nil) != c.ok {
			t.Errorf("%s %s: valid %v, want %v (%v)", c.def, c.msg, err == nil, c.ok, err)
		}
	}
}
