package announce

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"

	"github.com/sip-phone-api/sipphone"
)

// unregistered is a line owner whose line has no registration (the
// end-to-end tests in internal/app ring a real phone).
type unregistered struct{}

func (unregistered) Ring(string, RingOptions) (string, string, error) {
	return "", "phone1", sipphone.ErrNotRegistered
}
func (unregistered) Play(string, []int16) (string, string, error) { return "", "", sipphone.ErrNoCall }
func (unregistered) Hangup(string) (string, error)                { return "", sipphone.ErrNoCall }

type noEvents struct{}

func (noEvents) Subscribe(int) (<-chan *sipphone.Event, func()) {
	return make(chan *sipphone.Event), func() {}
}

type noPublish struct{}

func (noPublish) Publish(sipphone.Event) {}

func TestRESTProblemsAndOpenAPI(t *testing.T) {
	a, err := New(Config{AllowedURLHosts: []string{"127.0.0.1"}}, unregistered{}, noEvents{}, noPublish{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mux := http.NewServeMux()
	api := humago.New(mux, huma.DefaultConfig("sipphone", "test"))
	Register(api, a, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(query, ctype string, body []byte) (int, string) {
		res, err := http.Post(srv.URL+"/lines/phone1/announce"+query, ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if ct := res.Header.Get("Content-Type"); res.StatusCode >= 400 && !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%d answered as %s", res.StatusCode, ct)
		}
		return res.StatusCode, string(b)
	}
	wav := wavBytes(t, 8000, 100*time.Millisecond, 440)
	for _, tc := range []struct {
		query, ctype string
		body         []byte
		code         int
		detail       string
	}{
		{"", "audio/wav", nil, 400, "body is required"},
		{"", "application/json", []byte(`{"audio_url":"http://127.0.0.1:1/x.wav","volume":3}`), 422, "unknown field"},
		{"", "application/json", []byte(`{}`), 422, "audio_url"},
		{"", "application/json", []byte(`{"audio_url":"ftp://127.0.0.1/x"}`), 422, "not an http"},
		{"?repeat=50", "audio/wav", wav, 422, "repeat"},
		{"?hangup=maybe", "audio/wav", wav, 422, "hangup"},
		{"", "audio/wav", wav, 503, "not registered"},
	} {
		code, body := post(tc.query, tc.ctype, tc.body)
		if code != tc.code || !strings.Contains(body, tc.detail) {
			t.Errorf("%s %s %.20q: %d %s, want %d mentioning %q", tc.query, tc.ctype, tc.body, code, body, tc.code, tc.detail)
		}
	}

	res, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(res.Body)
	res.Body.Close()
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			t.Errorf("invalid OpenAPI: %s: %s", e.Message, e.Reason)
		}
	}
	if !strings.Contains(string(spec), `"/lines/{id}/announce"`) {
		t.Error("the OpenAPI document lacks /lines/{id}/announce")
	}
}
