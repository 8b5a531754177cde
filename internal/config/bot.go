package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Bot configures the voice-bot bridge (POST /lines/{id}/connect).
type Bot struct {
	// AccountSID is sent to bots as start.accountSid: "AC" and 32
	// lower-case hex digits. Default AC followed by 32 zeros.
	AccountSID string `yaml:"account_sid"`
	// ErrorTone is what the phone hears when a bot cannot be reached or
	// fails mid-call.
	ErrorTone BotTone `yaml:"error_tone"`
	// DialTimeout bounds the TwiML request plus the WebSocket handshake.
	// Default 10s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// WriteTimeout cuts off a bot that takes no message for this long.
	// Default 5s.
	WriteTimeout Duration `yaml:"write_timeout"`
}

// BotTone is a short tone.
type BotTone struct {
	// Frequency in Hz, 100 to 3400. Default 480.
	Frequency float64 `yaml:"frequency"`
	// Duration; 0 plays none. Default 600ms; at most 10s.
	Duration Duration `yaml:"duration"`
	// Level in dBFS, -60 to 0. Default -16.
	Level float64 `yaml:"level"`
}

// OnOffHook is what happens when the handset of a line is lifted.
type OnOffHook struct {
	// Connect connects the call to a voice bot.
	Connect *BotConnect `yaml:"connect"`
}

// BotConnect names a bot, as the body of POST /lines/{id}/connect.
type BotConnect struct {
	URL           string            `yaml:"url"`
	TwiMLURL      string            `yaml:"twiml_url"`
	Protocol      string            `yaml:"protocol"`
	Parameters    map[string]string `yaml:"parameters"`
	HangupOnClose *bool             `yaml:"hangup_on_close"`
	SampleRate    int               `yaml:"sample_rate"`
}

// DefaultBot returns the bridge defaults.
func DefaultBot() Bot {
	return Bot{
		AccountSID:   "AC00000000000000000000000000000000",
		ErrorTone:    BotTone{Frequency: 480, Duration: Duration(600 * time.Millisecond), Level: -16},
		DialTimeout:  Duration(10 * time.Second),
		WriteTimeout: Duration(5 * time.Second),
	}
}

var accountSIDRE = regexp.MustCompile(`^AC[0-9a-f]{32}$`)

func (v *validator) bot() {
	b := v.c.Bot
	if !accountSIDRE.MatchString(b.AccountSID) {
		v.add("bot.account_sid", "%q: use AC followed by 32 lower-case hex digits, as Twilio account SIDs look", b.AccountSID)
	}
	t := b.ErrorTone
	if t.Frequency < 100 || t.Frequency > 3400 {
		v.add("bot.error_tone.frequency", "%v Hz: use 100 to 3400", t.Frequency)
	}
	v.durationRange("bot.error_tone.duration", t.Duration, 0, 10*time.Second)
	if t.Level < -60 || t.Level > 0 {
		v.add("bot.error_tone.level", "%v dBFS: use -60 to 0", t.Level)
	}
	v.durationRange("bot.dial_timeout", b.DialTimeout, 100*time.Millisecond, 5*time.Minute)
	v.durationRange("bot.write_timeout", b.WriteTimeout, 100*time.Millisecond, 5*time.Minute)
	for i, l := range v.c.Lines {
		if l.OnOffHook == nil || l.OnOffHook.Connect == nil {
			continue
		}
		v.botConnect(fmt.Sprintf("lines[%d].on_off_hook.connect", i), *l.OnOffHook.Connect)
	}
}

func (v *validator) botConnect(key string, c BotConnect) {
	if (c.URL == "") == (c.TwiMLURL == "") {
		v.add(key, "give exactly one of url (the bot's ws:// or wss:// URL) and twiml_url")
	}
	check := func(k, s string, schemes ...string) {
		if s == "" {
			return
		}
		u, err := url.Parse(s)
		if err == nil && u.Host != "" {
			for _, sc := range schemes {
				if strings.EqualFold(u.Scheme, sc) {
					return
				}
			}
		}
		v.add(key+"."+k, "%q: use an absolute %s:// URL", s, strings.Join(schemes, ":// or "))
	}
	check("url", c.URL, "ws", "wss")
	check("twiml_url", c.TwiMLURL, "http", "https")
	switch c.Protocol {
	case "", "twilio":
		if c.SampleRate != 0 && c.SampleRate != 8000 {
			v.add(key+".sample_rate", "%d: protocol twilio is always 8000 Hz mu-law", c.SampleRate)
		}
	case "sipphone":
		if c.TwiMLURL != "" {
			v.add(key+".twiml_url", "works with protocol twilio only")
		}
		switch c.SampleRate {
		case 0, 8000, 16000, 24000, 48000:
		default:
			v.add(key+".sample_rate", "%d: use 8000, 16000, 24000 or 48000", c.SampleRate)
		}
	default:
		v.add(key+".protocol", "%q: use twilio or sipphone", c.Protocol)
	}
}
