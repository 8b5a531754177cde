package bot

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/sip-phone-api/sipphone"
)

// Request says which bot to connect a call to and how.
type Request struct {
	URL      string `json:"url,omitempty" doc:"The bot's WebSocket URL (ws:// or wss://). Give url or twiml_url." maxLength:"2048"`
	TwiMLURL string `json:"twiml_url,omitempty" doc:"An http(s) URL answering Twilio's voice webhook with <Connect><Stream url>; used instead of url" maxLength:"2048"`
	Protocol string `json:"protocol,omitempty" enum:"twilio,sipphone" doc:"twilio (default): Twilio Media Streams; sipphone: binary PCM16 plus JSON control messages as on /audio/{id}"`
	// Parameters are sent in start.customParameters, with line, from, to
	// and direction added.
	Parameters map[string]string `json:"parameters,omitempty" doc:"Sent to the bot in start.customParameters, with line, from, to and direction added"`
	// HangupOnClose hangs up the call when the bot goes away; default true.
	HangupOnClose *bool `json:"hangup_on_close,omitempty" doc:"Hang up the call when the bot closes or fails (default true); false keeps the call"`
	SampleRate    int   `json:"sample_rate,omitempty" enum:"8000,16000,24000,48000" doc:"protocol sipphone only: the PCM16 rate (default 8000); twilio is always 8000 Hz mu-law"`
}

// maxParameters bounds customParameters.
const maxParameters = 64

// Validate checks the request and fills in defaults.
func (r *Request) Validate() error {
	if (r.URL == "") == (r.TwiMLURL == "") {
		return fmt.Errorf("%w: give exactly one of url (the bot's ws:// or wss:// URL) and twiml_url", sipphone.ErrInvalid)
	}
	if r.URL != "" {
		if err := checkURL("url", r.URL, "ws", "wss"); err != nil {
			return err
		}
	}
	if r.TwiMLURL != "" {
		if err := checkURL("twiml_url", r.TwiMLURL, "http", "https"); err != nil {
			return err
		}
	}
	switch r.Protocol {
	case "":
		r.Protocol = "twilio"
	case "twilio", "sipphone":
	default:
		return fmt.Errorf("%w: protocol %q: use twilio or sipphone", sipphone.ErrInvalid, r.Protocol)
	}
	if r.TwiMLURL != "" && r.Protocol != "twilio" {
		return fmt.Errorf("%w: twiml_url works with protocol twilio only", sipphone.ErrInvalid)
	}
	switch {
	case r.SampleRate == 0:
		r.SampleRate = 8000
	case r.Protocol == "twilio" && r.SampleRate != 8000:
		return fmt.Errorf("%w: sample_rate %d: protocol twilio is always 8000 Hz mu-law", sipphone.ErrInvalid, r.SampleRate)
	case r.SampleRate != 8000 && r.SampleRate != 16000 && r.SampleRate != 24000 && r.SampleRate != 48000:
		return fmt.Errorf("%w: sample_rate %d: use 8000, 16000, 24000 or 48000", sipphone.ErrInvalid, r.SampleRate)
	}
	if len(r.Parameters) > maxParameters {
		return fmt.Errorf("%w: at most %d parameters", sipphone.ErrInvalid, maxParameters)
	}
	return nil
}

// hangupOnClose returns HangupOnClose with its default.
func (r *Request) hangupOnClose() bool { return r.HangupOnClose == nil || *r.HangupOnClose }

func checkURL(key, s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", sipphone.ErrInvalid, key, err)
	}
	for _, sc := range schemes {
		if strings.EqualFold(u.Scheme, sc) && u.Host != "" {
			return nil
		}
	}
	return fmt.Errorf("%w: %s %q: use an absolute %s:// URL", sipphone.ErrInvalid, key, s, strings.Join(schemes, ":// or "))
}
