package sipinfo

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sip-phone-api/sipphone"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, ct, body string
		wantFlash      bool
		wantDigit      string
		wantDur        time.Duration
		wantErr        bool
	}{
		{"dtmf-relay", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", false, "5", 160 * time.Millisecond, false},
		{"dtmf-relay star", "application/dtmf-relay", "Signal=*\nDuration=100", false, "*", 100 * time.Millisecond, false},
		{"dtmf-relay code 11", "application/dtmf-relay", "Signal=11\r\n", false, "#", 0, false},
		{"dtmf-relay letter", "application/dtmf-relay", "Signal=d\r\n", false, "D", 0, false},
		{"dtmf-relay code 13", "application/dtmf-relay", "Signal=13\r\n", false, "B", 0, false},
		{"dtmf-relay flash 16", "application/dtmf-relay", "Signal=16\r\nDuration=500", true, "", 0, false},
		{"dtmf plain", "application/dtmf", "7", false, "7", 0, false},
		{"hook-flash", "application/hook-flash", "signal=hf\r\n", true, "", 0, false},
		{"hook-flash bad", "application/hook-flash", "signal=x", false, "", 0, true},
		{"relay without signal", "application/dtmf-relay", "Duration=100", false, "", 0, true},
		{"relay bad digit", "application/dtmf-relay", "Signal=Z", false, "", 0, true},
		{"unknown type", "text/plain", "hello", false, "", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.ct, []byte(c.body))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if p.Flash != c.wantFlash || p.Digit != c.wantDigit || p.Method != sipphone.MethodSIPInfo || p.Duration != c.wantDur {
				t.Fatalf("press %+v", p)
			}
		})
	}
}

// FuzzParse feeds arbitrary INFO bodies and content types to Parse: it
// never panics, refuses bodies over 1 KiB and unknown types, and what it
// accepts is a key (0-9 * # A-D) or a hook flash, with a sane duration.
func FuzzParse(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p, err := Parse(ct, body)
		known := ct == "application/dtmf-relay" || ct == "application/dtmf" || ct == "application/hook-flash"
		switch {
		case !known && !errors.Is(err, ErrUnsupported) && len(body) <= maxBody:
			t.Fatalf("content type %q: err = %v, want ErrUnsupported", ct, err)
		case len(body) > maxBody && err == nil:
			t.Fatalf("accepted a body of %d bytes", len(body))
		case err != nil:
			return
		}
		if p.Method != sipphone.MethodSIPInfo {
			t.Fatalf("method %q", p.Method)
		}
		switch {
		case p.Flash && p.Digit != "":
			t.Fatalf("flash with digit %q", p.Digit)
		case !p.Flash && (len(p.Digit) != 1 || !strings.Contains("0123456789*#ABCD", p.Digit)):
			t.Fatalf("digit %q from %q", p.Digit, body)
		}
		if p.Duration < 0 || p.Duration >= time.Minute {
			t.Fatalf("duration %v", p.Duration)
		}
	})
}
