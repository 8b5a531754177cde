package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// ht802Offer is an offer as the HT802 sends it (PCMU first, several codecs,
// telephone-event at 101).
const ht802Offer = "v=0\r\n" +
	"o=phone1 8000 8000 IN IP4 192.168.1.100\r\n" +
	"s=SIP Call\r\n" +
	"c=IN IP4 192.168.1.100\r\n" +
	"t=0 0\r\n" +
	"m=audio 5004 RTP/AVP 0 8 4 18 9 97 2 123 101\r\n" +
	"a=sendrecv\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:4 G723/8000\r\n" +
	"a=rtpmap:18 G729/8000\r\n" +
	"a=fmtp:18 annexb=no\r\n" +
	"a=rtpmap:9 G722/8000\r\n" +
	"a=rtpmap:97 iLBC/8000\r\n" +
	"a=rtpmap:2 G726-32/8000\r\n" +
	"a=rtpmap:123 opus/48000/2\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-15\r\n" +
	"a=ptime:20\r\n"

func TestParseHT802Offer(t *testing.T) {
	s, err := Parse([]byte(ht802Offer))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != netip.MustParseAddr("192.168.1.100") || s.Port != 5004 || s.PTime != 20 || s.Direction != "sendrecv" {
		t.Fatalf("parsed %+v", s)
	}
	if len(s.Codecs) != 9 || s.Codecs[0].Name != "PCMU" || s.Codecs[8].Name != "TELEPHONE-EVENT" || s.Codecs[8].Fmtp != "0-15" {
		t.Fatalf("codecs %+v", s.Codecs)
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		name      string
		mline     string
		extra     string
		prefer    string
		wantCodec string
		wantEvent int
		wantErr   error
	}{
		{"pcmu first preferred", "0 8 101", "a=rtpmap:101 telephone-event/8000\r\n", "PCMU", "PCMU", 101, nil},
		{"prefer pcma though second", "0 8 101", "a=rtpmap:101 telephone-event/8000\r\n", "PCMA", "PCMA", 101, nil},
		{"preferred absent takes first", "8 96", "a=rtpmap:96 telephone-event/8000\r\n", "PCMU", "PCMA", 96, nil},
		{"no telephone-event", "0", "", "PCMU", "PCMU", -1, nil},
		{"dynamic pt other number", "0 110", "a=rtpmap:110 telephone-event/8000\r\n", "PCMU", "PCMU", 110, nil},
		{"event at 16k ignored", "0 101", "a=rtpmap:101 telephone-event/16000\r\n", "PCMU", "PCMU", -1, nil},
		{"no common codec", "18 4 101", "a=rtpmap:101 telephone-event/8000\r\n", "PCMU", "", -1, ErrNoCodec},
		{"opus only", "123", "a=rtpmap:123 opus/48000/2\r\n", "PCMU", "", -1, ErrNoCodec},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP " + c.mline + "\r\n" + c.extra
			s, err := Parse([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			n, err := Negotiate(s, c.prefer)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if n.Codec.Name != c.wantCodec || n.EventPT != c.wantEvent || n.PTime != 20 {
				t.Fatalf("negotiated %+v, want codec %s event %d ptime 20", n, c.wantCodec, c.wantEvent)
			}
			if n.Remote.String() != "10.0.0.2:4000" {
				t.Fatalf("remote = %s", n.Remote)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, body string }{
		{"no audio", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 4000 RTP/AVP 96\r\n"},
		{"no connection", "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"bad port", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n"},
		{"bad pt", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 300\r\n"},
		{"hostname connection", "v=0\r\nc=IN IP4 host.example\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"too large", "v=0\r\n" + strings.Repeat("a=x\r\n", 5000)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Parse([]byte(c.body)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	d := Description{SessionID: 7, Version: 7, Addr: netip.MustParseAddr("127.0.0.1"), Port: 12000,
		Codecs: []Codec{{PT: 0, Name: "PCMU", ClockRate: 8000}}, EventPT: 101, PTime: 20}
	s, err := Parse(d.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	n, err := Negotiate(s, "PCMU")
	if err != nil {
		t.Fatal(err)
	}
	if n.Remote.String() != "127.0.0.1:12000" || n.EventPT != 101 || n.Codec.PT != 0 || s.Direction != "sendrecv" {
		t.Fatalf("round trip %+v %+v", s, n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(ht802Offer))
	f.Add([]byte("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		if _, err := Negotiate(s, "PCMU"); err != nil && !errors.Is(err, ErrNoCodec) {
			t.Fatalf("unexpected negotiate error %v", err)
		}
	})
}
