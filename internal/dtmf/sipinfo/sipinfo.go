// Package sipinfo reads the bodies of SIP INFO requests that carry a key
// press or a hook flash: application/dtmf-relay ("Signal=5",
// "Duration=160"), application/dtmf ("5") and application/hook-flash
// ("signal=hf"), as analog telephone adapters send them when their DTMF
// method is "SIP INFO". It parses; the SIP side answers the request and the
// line owner decides whether the press is new.
package sipinfo

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sip-phone-api/sipphone"
)

// Accept lists the content types Parse understands, for an Accept header.
const Accept = "application/dtmf-relay, application/dtmf, application/hook-flash"

// ErrUnsupported is returned for a content type that carries no key.
var ErrUnsupported = errors.New("unsupported INFO content type")

// maxBody bounds a body: real ones are a few dozen bytes.
const maxBody = 1024

// Parse reads a key press or flash from an INFO body of content type ct
// (media type only, lower case).
func Parse(ct string, body []byte) (sipphone.KeyPress, error) {
	if len(body) > maxBody {
		return sipphone.KeyPress{}, errors.New("body too large")
	}
	fields := map[string]string{}
	for _, ln := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '\n' || r == '\r' }) {
		k, v, _ := strings.Cut(ln, "=")
		fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	flash := sipphone.KeyPress{Flash: true, Method: sipphone.MethodSIPInfo}
	switch ct {
	case "application/hook-flash":
		if strings.EqualFold(fields["signal"], "hf") || fields["signal"] == "16" {
			return flash, nil
		}
		return sipphone.KeyPress{}, errors.New("hook-flash body without signal=hf")
	case "application/dtmf-relay":
		sig, ok := fields["signal"]
		if !ok {
			return sipphone.KeyPress{}, errors.New("dtmf-relay body without Signal=")
		}
		if sig == "16" || strings.EqualFold(sig, "hf") || sig == "!" {
			return flash, nil
		}
		digit, ok := Digit(sig)
		if !ok {
			return sipphone.KeyPress{}, errors.New("unknown DTMF signal " + strconv.Quote(sig))
		}
		p := sipphone.KeyPress{Digit: digit, Method: sipphone.MethodSIPInfo}
		if v, err := strconv.Atoi(fields["duration"]); err == nil && v >= 0 && v < 60000 {
			p.Duration = time.Duration(v) * time.Millisecond
		}
		return p, nil
	case "application/dtmf":
		sig := strings.TrimSpace(string(body))
		if sig == "16" || sig == "!" {
			return flash, nil
		}
		digit, ok := Digit(sig)
		if !ok {
			return sipphone.KeyPress{}, errors.New("unknown DTMF signal " + strconv.Quote(sig))
		}
		return sipphone.KeyPress{Digit: digit, Method: sipphone.MethodSIPInfo}, nil
	}
	return sipphone.KeyPress{}, ErrUnsupported
}

// Digit maps a signal to one of 0-9 * # A-D (10 to 15 are the event codes
// of * # A B C D, RFC 4733 section 3.2).
func Digit(s string) (string, bool) {
	switch {
	case len(s) == 1 && strings.ContainsAny(s, "0123456789*#ABCDabcd"):
		return strings.ToUpper(s), true
	case s == "10":
		return "*", true
	case s == "11":
		return "#", true
	case s == "12", s == "13", s == "14", s == "15":
		return string(rune('A' + (s[1] - '2'))), true
	}
	return "", false
}
