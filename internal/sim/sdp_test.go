package sim

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		addr    string
		codec   uint8
		codecOK bool
		te      int // -1 none
		wantErr bool
	}{
		{
			name: "PCMU first with events",
			body: "v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			addr: "10.0.0.1:4000", codec: 0, codecOK: true, te: 101,
		},
		{
			name: "opus then PCMA, media-level address",
			body: "v=0\nc=IN IP4 10.0.0.1\nm=audio 5000 RTP/AVP 123 8 96\na=rtpmap:123 opus/48000/2\na=rtpmap:8 PCMA/8000\na=rtpmap:96 TELEPHONE-EVENT/8000\nc=IN IP4 10.0.0.2\n",
			addr: "10.0.0.2:5000", codec: 8, codecOK: true, te: 96,
		},
		{
			name: "dynamic PCMU",
			body: "c=IN IP4 127.0.0.1\nm=audio 6000 RTP/AVP 97\na=rtpmap:97 PCMU/8000\n",
			addr: "127.0.0.1:6000", codec: 97, codecOK: true, te: -1,
		},
		{
			name: "only G.729",
			body: "c=IN IP4 127.0.0.1\nm=audio 6000 RTP/AVP 18\na=rtpmap:18 G729/8000\n",
			addr: "127.0.0.1:6000", te: -1,
		},
		{name: "no audio", body: "c=IN IP4 127.0.0.1\nm=video 6000 RTP/AVP 96\n", wantErr: true},
		{name: "no address", body: "m=audio 6000 RTP/AVP 0\n", wantErr: true},
		{name: "bad port", body: "c=IN IP4 127.0.0.1\nm=audio x RTP/AVP 0\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseSDP([]byte(tc.body))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.addr.String() != tc.addr {
				t.Errorf("addr %s, want %s", d.addr, tc.addr)
			}
			pt, err := d.codec()
			if tc.codecOK != (err == nil) || (err == nil && pt != tc.codec) {
				t.Errorf("codec %d, %v; want %d ok=%v", pt, err, tc.codec, tc.codecOK)
			}
			if !tc.codecOK && !errors.Is(err, errNoCodec) {
				t.Errorf("error %v is not errNoCodec", err)
			}
			te, ok := d.telephoneEvent()
			if (tc.te >= 0) != ok || (ok && int(te) != tc.te) {
				t.Errorf("telephone-event %d %v, want %d", te, ok, tc.te)
			}
		})
	}
}

func TestBuildSDPRoundTrip(t *testing.T) {
	body := buildSDP(sdpParams{
		user: "phone1", sessID: 42, addr: netip.MustParseAddr("127.0.0.1"), port: 12000,
		formats: []uint8{ptPCMU, ptPCMA}, te: 101, withTE: true,
	})
	d, err := parseSDP(body)
	if err != nil {
		t.Fatal(err)
	}
	if d.addr.String() != "127.0.0.1:12000" || !slices.Equal(d.formats, []uint8{0, 8, 101}) || d.ptime != 20 || d.dir != "sendrecv" {
		t.Errorf("round trip %+v", d)
	}
	if !strings.HasPrefix(string(body), "v=0\r\no=phone1 42 42 IN IP4 127.0.0.1\r\n") {
		t.Errorf("origin line:\n%s", body)
	}
}
