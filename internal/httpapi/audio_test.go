package httpapi

import (
	"strings"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/media"
)

func TestClientMessage(t *testing.T) {
	cases := []struct {
		name      string
		noSpeaker bool
		binary    bool
		msg       string
		wantReply string // "" for no reply
	}{
		{"audio", false, true, "\x01\x02\x03\x04", ""},
		{"audio on an in stream", true, true, "\x01\x02", "direction is \"in\""},
		{"clear", false, false, `{"type":"clear"}`, ""},
		{"mark", false, false, `{"type":"mark","name":"m1"}`, ""},
		{"mark without name", false, false, `{"type":"mark"}`, "mark needs a name"},
		{"mark name too long", false, false, `{"type":"mark","name":"` + strings.Repeat("x", 300) + `"}`, "longer than 256"},
		{"unknown type", false, false, `{"type":"dance"}`, `unknown message type "dance"`},
		{"not JSON", false, false, `clear`, "control messages are JSON"},
		{"clear on an in stream", true, false, `{"type":"clear"}`, "needs a stream with direction out or both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var sp *media.Speaker
			if !c.noSpeaker {
				sp, _ = media.NewSpeaker(dsp.FormatPCM16, 8000, func(string, bool) {})
			}
			reply, ok := clientMessage(sp, c.binary, []byte(c.msg))
			if ok != (c.wantReply != "") {
				t.Fatalf("reply %+v (%v), want %q", reply, ok, c.wantReply)
			}
			if ok && (reply.Type != "error" || !strings.Contains(reply.Message, c.wantReply)) {
				t.Fatalf("reply %+v, want an error containing %q", reply, c.wantReply)
			}
		})
	}
}

// FuzzClientMessage: nothing an audio client sends makes the server panic,
// and every reply is an error message.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{`{"type":"clear"}`, `{"type":"mark","name":"x"}`, `{"type":1}`, `{`, "\x00\x01\x02", `{"type":"mark","name":null}`} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, binary bool, b []byte) {
		for _, speaking := range []bool{true, false} {
			var sp *media.Speaker
			if speaking {
				sp, _ = media.NewSpeaker(dsp.FormatPCM16, 16000, func(string, bool) {})
			}
			if reply, ok := clientMessage(sp, binary, b); ok && (reply.Type != "error" || reply.Message == "") {
				t.Fatalf("reply %+v", reply)
			}
		}
	})
}
