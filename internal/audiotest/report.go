package audiotest

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sip-phone-api/sipphone"
)

// Report is the result of a test run, as printed by --json.
type Report struct {
	// Server is "in-process" or "remote".
	Server string `json:"server"`
	// API and SIP are the server's addresses.
	API string `json:"api"`
	SIP string `json:"sip"`
	// Line is the line id tested and User the simulated phone's SIP user.
	Line string `json:"line"`
	User string `json:"user"`
	// Call is how the call was set up: "ring" (answered automatically) or
	// "offhook" (the phone lifted its handset).
	Call string `json:"call"`
	// Codec is the codec the server reports for the call; PhoneCodec the
	// one the phone negotiated.
	Codec      string `json:"codec"`
	PhoneCodec string `json:"phone_codec"`
	// Paths holds each measured direction.
	Paths []PathResult `json:"paths"`
	// ClientRoundTrips is, for each client rate, the client's round trip:
	// client to phone plus phone to client (median latencies).
	ClientRoundTrips []ClientRoundTrip `json:"client_round_trips"`
	// ServerMedia is the call's media statistics from the server's
	// GET /lines/{id} after the tests.
	ServerMedia *sipphone.MediaStats `json:"server_media,omitempty"`
	// Checks are the pass/fail verdicts; Pass is true when all passed.
	Checks []Check `json:"checks"`
	Pass   bool    `json:"pass"`
	// DurationS is how long the test took.
	DurationS float64 `json:"duration_s"`
}

// Path names in PathResult.Path.
const (
	PathPhoneToClient = "phone_to_client" // the phone's microphone to a stream client
	PathClientToPhone = "client_to_phone" // a stream client's audio to the earpiece
	PathLoopback      = "loopback"        // the phone's microphone back to its earpiece through the server
)

// PathResult is one direction of audio measured: a test tone's level,
// frequency and SNR, and the latency of markers.
type PathResult struct {
	Path string `json:"path"`
	// SampleRate and Format describe the client's stream (8000 and "g711"
	// for the loopback, which has no client).
	SampleRate int           `json:"sample_rate"`
	Format     string        `json:"format"`
	Tone       ToneResult    `json:"tone"`
	Latency    LatencyResult `json:"latency"`
}

// ClientRoundTrip is the client's round trip at one sample rate.
type ClientRoundTrip struct {
	SampleRate int     `json:"sample_rate"`
	MS         float64 `json:"ms"`
}

// Check is one pass/fail verdict.
type Check struct {
	Name   string  `json:"name"`
	Pass   bool    `json:"pass"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Limit  string  `json:"limit"`
	Detail string  `json:"detail,omitempty"`
}

// Failed returns the checks that did not pass.
func (r *Report) Failed() []Check {
	var f []Check
	for _, c := range r.Checks {
		if !c.Pass {
			f = append(f, c)
		}
	}
	return f
}

// pathTitle names a path for people.
func pathTitle(p PathResult) string {
	switch p.Path {
	case PathPhoneToClient:
		return fmt.Sprintf("phone -> client (%s %d Hz)", p.Format, p.SampleRate)
	case PathClientToPhone:
		return fmt.Sprintf("client -> phone (%s %d Hz)", p.Format, p.SampleRate)
	case PathLoopback:
		return "loopback (phone -> server -> phone)"
	}
	return p.Path
}

// evaluate sets Checks and Pass from the measurements. wantCodec, when
// set, is the codec the call must use.
func (r *Report) evaluate(wantCodec string) {
	r.Checks = nil
	add := func(c Check) { r.Checks = append(r.Checks, c) }

	codec := Check{Name: "codec", Pass: r.Codec != "" && r.Codec == r.PhoneCodec, Unit: "", Limit: "server and phone agree"}
	codec.Detail = fmt.Sprintf("server %s, phone %s", orNone(r.Codec), orNone(r.PhoneCodec))
	if wantCodec != "" {
		codec.Limit += ", " + wantCodec
		codec.Pass = codec.Pass && strings.EqualFold(r.Codec, wantCodec)
	}
	add(codec)

	for _, p := range r.Paths {
		name := pathTitle(p)
		t := p.Tone
		if !t.Received {
			add(Check{Name: name + ": tone", Limit: "received", Detail: t.Error})
		} else {
			dev := t.LevelDBm0 - t.SentDBm0
			add(Check{Name: name + ": level", Pass: abs(dev) <= maxLevelDevdB, Value: round(t.LevelDBm0, 2), Unit: "dBm0",
				Limit: fmt.Sprintf("%s +/-%d dB", formatFloat(t.SentDBm0, 0), maxLevelDevdB)})
			add(Check{Name: name + ": frequency", Pass: abs(t.FrequencyHz-t.SentHz) <= maxFreqDevHz, Value: round(t.FrequencyHz, 1), Unit: "Hz",
				Limit: fmt.Sprintf("%s +/-%d Hz", formatFloat(t.SentHz, 0), maxFreqDevHz)})
			snr := Check{Name: name + ": SNR", Pass: t.SNRdB >= minSNRdB, Value: round(t.SNRdB, 1), Unit: "dB",
				Limit: fmt.Sprintf(">= %d dB", minSNRdB)}
			if t.Dropouts > 0 {
				snr.Detail = fmt.Sprintf("%.1f dB; %d gap(s) in the audio, %.1f ms in all", t.SNRdB, t.Dropouts, t.DropoutMS)
			}
			add(snr)
		}
		l := p.Latency
		limit, what := maxOneWayMS, "latency"
		if p.Path == PathLoopback {
			limit, what = maxRoundTripMS, "round trip"
		}
		c := Check{Name: name + ": " + what, Value: l.MedianMS, Unit: "ms", Limit: fmt.Sprintf("median < %d ms", limit)}
		switch {
		case l.Found < l.Sent || l.Sent == 0:
			c.Detail = fmt.Sprintf("%d of %d markers arrived", l.Found, l.Sent)
			if l.Error != "" {
				c.Detail += ": " + l.Error
			}
		default:
			c.Pass = l.MedianMS < float64(limit)
		}
		add(c)
	}
	r.Pass = true
	for _, c := range r.Checks {
		r.Pass = r.Pass && c.Pass
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func formatFloat(x float64, digits int) string {
	return strconv.FormatFloat(x, 'f', digits, 64)
}

// writeText prints the report for people.
func (r *Report) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sipphone audiotest: %s server, SIP %s, API %s\n", r.Server, r.SIP, r.API)
	fmt.Fprintf(&b, "line %s (simulated phone %q), call set up by %s, codec %s\n", r.Line, r.User, r.Call, orNone(r.Codec))
	for _, p := range r.Paths {
		fmt.Fprintf(&b, "\n%s\n", pathTitle(p))
		t := p.Tone
		if t.Received {
			fmt.Fprintf(&b, "  tone      %.1f Hz at %.2f dBm0 (%.2f dBFS, peak %.2f dBFS), SNR %.1f dB  [sent %.0f Hz at %.0f dBm0]\n",
				t.FrequencyHz, t.LevelDBm0, t.LevelDBFS, t.PeakDBFS, t.SNRdB, t.SentHz, t.SentDBm0)
			if t.Dropouts > 0 {
				fmt.Fprintf(&b, "  gaps      %d in the measured %d ms, %.1f ms in all (audio lost, or played out late)\n", t.Dropouts, t.AnalysedMS, t.DropoutMS)
			}
		} else {
			fmt.Fprintf(&b, "  tone      not received: %s  [sent %.0f Hz at %.0f dBm0]\n", t.Error, t.SentHz, t.SentDBm0)
		}
		l := p.Latency
		what := "latency   "
		if p.Path == PathLoopback {
			what = "round trip"
		}
		if l.Found > 0 {
			fmt.Fprintf(&b, "  %s %.1f ms median (min %.1f, max %.1f; %d of %d markers)\n", what, l.MedianMS, l.MinMS, l.MaxMS, l.Found, l.Sent)
		} else {
			fmt.Fprintf(&b, "  %s no marker arrived (%d sent)\n", what, l.Sent)
		}
	}
	if len(r.ClientRoundTrips) > 0 {
		b.WriteString("\nclient round trip (client -> phone + phone -> client):")
		for i, rt := range r.ClientRoundTrips {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %.1f ms at %d Hz", rt.MS, rt.SampleRate)
		}
		b.WriteString("\n")
	}
	if m := r.ServerMedia; m != nil {
		fmt.Fprintf(&b, "server media: %d packets in (%d lost), %d out, %d frames concealed, jitter %.1f ms, jitter buffer %.0f ms\n",
			m.RTP.PacketsReceived, m.RTP.Lost, m.RTP.PacketsSent, m.Concealed, m.RTP.JitterMS, m.Jitter.TargetMS)
	}
	b.WriteString("\nchecks\n")
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "  %s  %s", verdict, c.Name)
		if c.Unit != "" && c.Detail == "" {
			fmt.Fprintf(&b, " %s %s", strconv.FormatFloat(c.Value, 'f', -1, 64), c.Unit)
		}
		fmt.Fprintf(&b, " (want %s)", c.Limit)
		if c.Detail != "" {
			fmt.Fprintf(&b, ": %s", c.Detail)
		}
		b.WriteString("\n")
	}
	failed := len(r.Failed())
	if failed == 0 {
		fmt.Fprintf(&b, "\nPASS: all %d checks passed in %.1f s\n", len(r.Checks), r.DurationS)
	} else {
		fmt.Fprintf(&b, "\nFAIL: %d of %d checks failed\n", failed, len(r.Checks))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
