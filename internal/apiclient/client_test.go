package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/httpapi"
)

func TestProblemAndTypedAnswers(t *testing.T) {
	var gotAuth, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		b := make([]byte, 512)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		switch r.URL.Path {
		case "/lines/kitchen/ring":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{"ring_id":"r1","line":"kitchen"}`))
		default:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"title":"Conflict","status":409,"detail":"line is busy"}`))
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "secret")
	r, err := c.Ring(context.Background(), "kitchen", httpapi.RingBody{Pattern: "ring3"})
	if err != nil || r.RingID != "r1" || gotAuth != "Bearer secret" || !strings.Contains(gotBody, `"pattern":"ring3"`) {
		t.Fatalf("ring = %+v %v (auth %q, body %q)", r, err, gotAuth, gotBody)
	}
	err = c.Hangup(context.Background(), "hall")
	if StatusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "line is busy") {
		t.Fatalf("hangup error %v (status %d)", err, StatusOf(err))
	}
}
