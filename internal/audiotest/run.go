package audiotest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/apiclient"
	"github.com/sip-phone-api/sipphone/internal/app"
	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/httpapi"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

// Options configure a test run. Zero fields take the defaults.
type Options struct {
	// API is the base URL of a running server's REST API, e.g.
	// "http://192.168.1.10:8000". Empty starts a server in-process on
	// loopback, on ports chosen by the system, with a temporary state file.
	API string
	// SIP is the running server's SIP address host:port; default the API's
	// host at port 5060.
	SIP string
	// Token is the API bearer token, if the server requires one.
	Token string
	// User, AuthUser and Password are the simulated phone's SIP account:
	// its User ID (default "audiotest"), Authenticate ID (default User) and
	// password.
	User     string
	AuthUser string
	Password string
	// Local is the IP the simulated phone binds; default 127.0.0.1 for the
	// in-process server, else the address that routes to the server.
	Local string
	// Call is "ring" (default: the server rings the phone, which answers)
	// or "offhook" (the phone lifts its handset and calls the server).
	Call string
	// Rates are the client stream sample rates tested, default 8000 and
	// 16000.
	Rates []int
	// Codec is the in-process server's audio.codec, "PCMU" (default) or
	// "PCMA". With a running server the codec is the server's choice.
	Codec string
	// Logger receives the in-process server's and the phone's logs; nil
	// discards them.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultUser = "audiotest"
	DefaultCall = "ring"
)

// DefaultRates are the client sample rates tested by default.
var DefaultRates = []int{8000, 16000}

func (o Options) withDefaults() Options {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Call == "" {
		o.Call = DefaultCall
	}
	if len(o.Rates) == 0 {
		o.Rates = DefaultRates
	}
	if o.API == "" && o.Codec == "" {
		o.Codec = "PCMU"
	}
	o.Codec = strings.ToUpper(o.Codec)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// validate names the first bad option by its flag.
func (o Options) validate() error {
	if o.Call != "ring" && o.Call != "offhook" {
		return fmt.Errorf("--call: want ring or offhook, got %q", o.Call)
	}
	for _, r := range o.Rates {
		switch r {
		case 8000, 16000, 24000, 48000:
		default:
			return fmt.Errorf("--rates: %d Hz is not a stream rate (8000, 16000, 24000, 48000)", r)
		}
	}
	if o.API == "" {
		if o.SIP != "" || o.Token != "" {
			return errors.New("--sip and --token need --api: without it the server runs in-process")
		}
		if o.Codec != "PCMU" && o.Codec != "PCMA" {
			return fmt.Errorf("--codec: want PCMU or PCMA, got %q", o.Codec)
		}
	} else {
		if o.Codec != "" {
			return errors.New("--codec applies to the in-process server only; a running server uses its audio.codec")
		}
		u, err := url.Parse(o.API)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--api: want a URL such as http://192.168.1.10:8000, got %q", o.API)
		}
	}
	if o.SIP != "" {
		if _, _, err := net.SplitHostPort(o.SIP); err != nil {
			return fmt.Errorf("--sip: want HOST:PORT, got %q", o.SIP)
		}
	}
	if o.Local != "" && net.ParseIP(o.Local) == nil {
		return fmt.Errorf("--local: want an IP address, got %q", o.Local)
	}
	return nil
}

// runner holds one run's parts.
type runner struct {
	o     Options
	log   *slog.Logger
	api   *apiclient.Client
	phone *sim.Phone
	side  *phoneSide
	line  string
	rep   *Report
}

// Run performs the audio test and returns its report. The error is for a
// test that could not be carried out (no server, no registration, no
// call); measurements that miss their targets are failed checks in the
// report (Report.Pass false).
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	rep := &Report{Server: "remote", API: strings.TrimRight(o.API, "/"), SIP: o.SIP, User: o.User, Call: o.Call}
	if o.API == "" {
		a, stop, err := startServer(o, "")
		if err != nil {
			return nil, err
		}
		defer stop()
		rep.Server = "in-process"
		rep.API = "http://" + a.RESTAddr().String()
		rep.SIP = a.SIP.UDPAddr().String()
		if o.Local == "" {
			o.Local = "127.0.0.1"
		}
	} else {
		if rep.SIP == "" {
			u, _ := url.Parse(o.API)
			rep.SIP = net.JoinHostPort(u.Hostname(), "5060")
		}
		if o.Local == "" {
			o.Local = localIPFor(rep.SIP)
		}
	}
	r := &runner{o: o, log: o.Logger, rep: rep, api: apiclient.New(rep.API, o.Token)}
	defer r.api.HTTP.CloseIdleConnections()
	if _, err := r.api.Lines(ctx); err != nil {
		return nil, fmt.Errorf("the server's API: %w", err)
	}
	if err := r.startPhone(ctx); err != nil {
		return nil, err
	}
	defer r.phone.Close()
	defer r.leave()
	defer r.hangup() // also when the call is only half set up
	if err := r.call(ctx); err != nil {
		return nil, err
	}
	for _, rate := range o.Rates {
		if err := r.streamTests(ctx, rate); err != nil {
			return nil, fmt.Errorf("audio stream at %d Hz: %w", rate, err)
		}
	}
	if err := r.loopbackTest(ctx); err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	if l, err := r.api.Line(ctx, r.line); err == nil && l.Call != nil {
		rep.ServerMedia = l.Call.Media
		if rep.Codec == "" {
			rep.Codec = l.Call.Codec
		}
	}
	r.clientRoundTrips()
	want := ""
	if rep.Server == "in-process" {
		want = o.Codec
	}
	rep.DurationS = round(time.Since(began).Seconds(), 1)
	rep.evaluate(want)
	return rep, nil
}

// startServer starts the real server in-process: loopback only, ports
// chosen by the system, state in a temporary directory; extra is more
// configuration (YAML). stop shuts it down and removes the directory.
func startServer(o Options, extra string) (*app.App, func(), error) {
	dir, err := os.MkdirTemp("", "sipphone-audiotest-")
	if err != nil {
		return nil, nil, fmt.Errorf("in-process server: %w", err)
	}
	yml := fmt.Sprintf("server:\n  host: 127.0.0.1\n  sip_port: 0\n  rest_port: 0\n  websocket_port: 0\n  state_file: %q\naudio:\n  codec: %s\n",
		filepath.Join(dir, "state.json"), o.Codec) + extra
	cfg, err := config.Parse([]byte(yml), "audiotest")
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("in-process server: %w", err)
	}
	a, err := app.New(cfg, o.Logger, "audiotest")
	if err == nil {
		err = a.Start()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("in-process server: %w", err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		os.RemoveAll(dir)
	}
	return a, stop, nil
}

// localIPFor returns the local address the system would use to reach
// addr, or 0.0.0.0's stand-in 127.0.0.1 when it cannot tell.
func localIPFor(addr string) string {
	c, err := net.Dial("udp", addr) // no packet is sent
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// startPhone starts the simulated phone and finds its line on the server.
func (r *runner) startPhone(ctx context.Context) error {
	p, err := sim.New(sim.Config{
		Server: r.rep.SIP, Local: r.o.Local, Logger: r.log,
		Lines: []sim.LineConfig{{User: r.o.User, AuthUser: r.o.AuthUser, Password: r.o.Password, DisplayName: "audio test", Answer: sim.AnswerAuto}},
	})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Start(sctx); err != nil {
		p.Close()
		return fmt.Errorf("the simulated phone could not register as %q at %s: %w", r.o.User, r.rep.SIP, err)
	}
	r.phone, r.side = p, newPhoneSide(p)
	// The phone is registered: the line shows at once, unless the server
	// lost the registration.
	var apiErr error
	err = waitUntil(ctx, 5*time.Second, "the server to list a registered line with user "+r.o.User, func() bool {
		var ls []sipphone.LineStatus
		ls, apiErr = r.api.Lines(ctx)
		for _, l := range ls {
			if l.User == r.o.User && l.Registered {
				r.line = l.ID
				return true
			}
		}
		return apiErr != nil
	})
	if err = errors.Join(err, apiErr); err != nil {
		return fmt.Errorf("the server does not show the phone's registration: %w", err)
	}
	r.rep.Line = r.line
	return nil
}

// call sets up the call and waits until the server has its media.
func (r *runner) call(ctx context.Context) error {
	switch r.o.Call {
	case "ring":
		if _, err := r.api.Ring(ctx, r.line, httpapi.RingBody{CallerID: &sipphone.CallerID{Name: "audio test"}}); err != nil {
			return err
		}
	case "offhook":
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := r.phone.OffHook(cctx, 0); err != nil {
			return fmt.Errorf("the phone's call to the server failed: %w", err)
		}
	}
	var l sipphone.LineStatus
	var apiErr error
	err := waitUntil(ctx, 10*time.Second, "the call to be up with media on both ends", func() bool {
		if r.phone.State(0) != sim.StateInCall {
			return false
		}
		l, apiErr = r.api.Line(ctx, r.line)
		return apiErr == nil && l.Call != nil && l.Call.Media != nil
	})
	if err != nil {
		return fmt.Errorf("no call (phone %s, server %s): %w", r.phone.State(0), orNone(string(l.State)), errors.Join(err, apiErr))
	}
	r.rep.Codec, r.rep.PhoneCodec = l.Call.Codec, r.phone.Received(0).Codec
	return nil
}

// leave unregisters the simulated phone and has the server forget the line
// it learned for it, so no phantom line stays behind to be rung. A
// configured line (409) or a server without DELETE /lines/{id} is left as it
// is; the unregistration alone makes it unreachable.
func (r *runner) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.phone.Unregister(ctx, 0); err != nil {
		r.log.Debug("unregistering the simulated phone failed", "err", err)
	}
	if r.line != "" {
		if err := r.api.Forget(ctx, r.line); err != nil {
			r.log.Debug("the server did not forget the test line", "line", r.line, "err", err)
		}
	}
}

// hangup ends the call from the server; errors do not matter any more.
func (r *runner) hangup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.api.Hangup(ctx, r.line)
	_ = waitUntil(ctx, 2*time.Second, "the phone to hang up", func() bool { return r.phone.State(0) != sim.StateInCall })
}

// streamTests measures both directions of an audio stream at rate.
func (r *runner) streamTests(ctx context.Context, rate int) error {
	st, err := r.api.AudioStart(ctx, httpapi.AudioStartBody{Line: r.line, Direction: "both", Format: "pcm16", SampleRate: rate, FrameMS: 20})
	if err != nil {
		return err
	}
	ac, err := dialAudio(ctx, st, r.o.Token)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = r.api.AudioStop(sctx, st.StreamID)
		ac.close()
	}()
	if err := waitUntil(ctx, 5*time.Second, "the phone's audio on the stream", func() bool {
		return ac.rec.count() >= rate/10 || ac.rec.readErr() != nil
	}); err != nil {
		return err
	}
	if err := ac.rec.readErr(); err != nil {
		return fmt.Errorf("audio WebSocket: %w", err)
	}

	p2c := PathResult{Path: PathPhoneToClient, SampleRate: rate, Format: "pcm16"}
	c2p := PathResult{Path: PathClientToPhone, SampleRate: rate, Format: "pcm16"}

	// Both tones at once: the paths are independent.
	clientFrom, phoneFrom := ac.rec.count(), r.side.count()
	r.phone.PlaySamples(0, tone(8000, phoneToneHz, toneDBm0, toneMS))
	speech := append(tone(rate, clientToneHz, toneDBm0, toneMS), make([]int16, rate/10)...)
	sentAt, err := ac.send(ctx, speech)
	if err != nil {
		return err
	}
	// Wait until both tones can be measured, or until so much audio came
	// after them that they are not coming.
	if err := waitUntil(ctx, 5*time.Second, "the test tones", func() bool {
		pcm, base, err := r.side.received(ctx)
		phoneDone := err != nil || toneReady(pcm, phoneFrom-base, 8000)
		return (phoneDone || r.side.count() >= phoneFrom+8000*toneWaitMS/1000) &&
			(toneReady(ac.rec.snapshot(), clientFrom, rate) || ac.rec.count() >= clientFrom+rate*toneWaitMS/1000)
	}); err != nil {
		return err
	}
	p2c.Tone = analyseTone(ac.rec.snapshot(), clientFrom, rate, phoneToneHz, toneDBm0)
	pcm, base, err := r.side.received(ctx)
	if err != nil {
		return err
	}
	c2p.Tone = analyseTone(pcm, phoneFrom-base, 8000, clientToneHz, toneDBm0)
	// The markers need silence before them: the rest of both tones must
	// have been played and have arrived.
	if err := r.waitQuiet(ctx, sentAt.Add(time.Duration(len(speech))*time.Second/time.Duration(rate)), ac); err != nil {
		return err
	}

	// Markers both ways, interleaved.
	r.side.startPolling()
	defer r.side.stopPolling()
	var wg sync.WaitGroup
	var p2cErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		p2c.Latency, p2cErr = r.phoneToClientLatency(ctx, ac, rate)
	}()
	var c2pErr error
	select {
	case <-time.After(burstGapMS / 2 * time.Millisecond):
		c2p.Latency, c2pErr = r.clientToPhoneLatency(ctx, ac, rate)
	case <-ctx.Done():
		c2pErr = ctx.Err()
	}
	wg.Wait()
	if err := errors.Join(p2cErr, c2pErr); err != nil {
		return err
	}
	r.rep.Paths = append(r.rep.Paths, p2c, c2p)
	return nil
}

// quietMS is how much silence counts as the end of a test signal.
const quietMS = 60

// waitQuiet waits until end, when the test tones stop playing, and then
// until the last quietMS of what the phone (and the client ac, if any)
// received is silent.
func (r *runner) waitQuiet(ctx context.Context, end time.Time, ac *audioClient) error {
	if err := sleepUntil(ctx, end); err != nil {
		return err
	}
	return waitUntil(ctx, 5*time.Second, "silence after the test tones", func() bool {
		pcm, _, err := r.side.received(ctx)
		if err != nil || !quietTail(pcm, 8000*quietMS/1000) {
			return err != nil
		}
		return ac == nil || quietTail(ac.rec.snapshot(), ac.rate*quietMS/1000)
	})
}

// quietTail reports whether the last n samples of x stay below the
// threshold of the markers' and tones' starts.
func quietTail(x []int16, n int) bool {
	if len(x) < n {
		return false
	}
	thr := min(threshold(toneDBm0), threshold(burstDBm0))
	for _, v := range x[len(x)-n:] {
		if int(v) >= thr || -int(v) >= thr {
			return false
		}
	}
	return true
}

// sleepUntil waits until t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// phoneToClientLatency sends markers from the phone and times their
// arrival at the client.
func (r *runner) phoneToClientLatency(ctx context.Context, ac *audioClient, rate int) (LatencyResult, error) {
	from := ac.rec.count()
	sent, err := r.phoneBursts(ctx)
	if err != nil {
		return LatencyResult{}, err
	}
	var found []int
	if err := waitUntil(ctx, 5*time.Second, "the client's audio after the markers", func() bool {
		found = onsets(ac.rec.snapshot(), from, threshold(burstDBm0), rate*2*burstMS/1000, len(sent))
		return len(found) == len(sent) || ac.rec.lastArrival().After(lastOf(sent).Add(markerWaitMS*time.Millisecond))
	}); err != nil {
		return LatencyResult{Sent: len(sent), Error: err.Error()}, nil
	}
	return latencies(found, sent, ac.rec.arrivedAt), nil
}

// phoneBursts sends the markers from the phone, burstGapMS apart, and
// returns when each left: the zero time for a marker whose send time is
// uncertain, in which case another is sent, up to a few times.
func (r *runner) phoneBursts(ctx context.Context) ([]time.Time, error) {
	var sent []time.Time
	timed := 0
	var last time.Time
	for attempt := 0; timed < bursts && attempt < bursts+3; attempt++ {
		if attempt > 0 {
			if err := sleepUntil(ctx, last.Add(burstGapMS*time.Millisecond-2*packetInterval)); err != nil {
				return nil, err
			}
		}
		at, err := r.side.sendMarked(ctx, burst(8000))
		switch {
		case errors.Is(err, errUntimed):
			sent = append(sent, time.Time{})
			last = time.Now()
			continue
		case err != nil:
			return nil, err
		}
		sent = append(sent, at)
		last = at
		timed++
	}
	return sent, nil
}

// latencies matches the markers found (in order) with the times they were
// sent and computes each latency from arrivedAt. Markers sent at the zero
// time were untimed: found, but not measured.
func latencies(found []int, sent []time.Time, arrivedAt func(int) (time.Time, bool)) LatencyResult {
	var res LatencyResult
	for _, t := range sent {
		if !t.IsZero() {
			res.Sent++
		}
	}
	for i, on := range found {
		if i >= len(sent) || sent[i].IsZero() {
			continue
		}
		if at, ok := arrivedAt(on); ok {
			// The send time comes from polling the phone's packet count, so
			// a frame can be seen to arrive a fraction of a millisecond
			// "before" its packet left; below the measurement's resolution
			// that reads as 0.
			res.MS = append(res.MS, max(0, round(at.Sub(sent[i]).Seconds()*1000, 1)))
		}
	}
	if len(found) < len(sent) {
		res.Error = fmt.Sprintf("%d of %d markers found in the received audio", len(found), len(sent))
	}
	res.summarise()
	return res
}

// clientToPhoneLatency sends markers from the client and times their
// arrival at the phone.
func (r *runner) clientToPhoneLatency(ctx context.Context, ac *audioClient, rate int) (LatencyResult, error) {
	from := r.side.count()
	// Each marker is followed by silence so that the server's resampler
	// has pushed the whole burst out before the queue runs dry.
	marker := append(burst(rate), make([]int16, rate*60/1000)...)
	var sent []time.Time
	for i := range bursts {
		if i > 0 {
			if err := sleepUntil(ctx, sent[i-1].Add(burstGapMS*time.Millisecond)); err != nil {
				return LatencyResult{}, err
			}
		}
		at, err := ac.send(ctx, marker)
		if err != nil {
			return LatencyResult{}, err
		}
		sent = append(sent, at)
	}
	return r.phoneArrivals(ctx, from, sent)
}

// phoneArrivals finds the markers sent at sent in what the phone received
// from call-wide sample index from on, and times them.
func (r *runner) phoneArrivals(ctx context.Context, from int, sent []time.Time) (LatencyResult, error) {
	var found []int
	var base int
	if err := waitUntil(ctx, 5*time.Second, "the phone's audio after the markers", func() bool {
		var pcm []int16
		var err error
		if pcm, base, err = r.side.received(ctx); err != nil {
			return true
		}
		found = onsets(pcm, from-base, threshold(burstDBm0), 8000*2*burstMS/1000, len(sent))
		if len(found) > 0 && !r.side.timed(base+found[len(found)-1]) {
			return false // the poller has yet to note the packet's arrival
		}
		return len(found) == len(sent) || r.side.lastArrival().After(lastOf(sent).Add(markerWaitMS*time.Millisecond))
	}); err != nil {
		return LatencyResult{Sent: len(sent), Error: err.Error()}, nil
	}
	if err := ctx.Err(); err != nil {
		return LatencyResult{}, err
	}
	return latencies(found, sent, func(i int) (time.Time, bool) { return r.side.arrivedAt(base + i) }), nil
}

// lastOf returns the latest time in ts.
func lastOf(ts []time.Time) time.Time {
	var last time.Time
	for _, t := range ts {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// loopbackTest turns on the server's loopback and measures the phone's
// own audio coming back: a tone, then round trips of markers.
func (r *runner) loopbackTest(ctx context.Context) error {
	if err := r.api.Loopback(ctx, r.line, true); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = r.api.Loopback(sctx, r.line, false)
	}()
	lb := PathResult{Path: PathLoopback, SampleRate: 8000, Format: "g711"}
	from := r.side.count()
	r.phone.PlaySamples(0, tone(8000, phoneToneHz, toneDBm0, toneMS))
	played := time.Now()
	if err := waitUntil(ctx, 5*time.Second, "the looped-back tone", func() bool {
		pcm, base, err := r.side.received(ctx)
		return err != nil || toneReady(pcm, from-base, 8000) || r.side.count() >= from+8000*toneWaitMS/1000
	}); err != nil {
		return err
	}
	pcm, base, err := r.side.received(ctx)
	if err != nil {
		return err
	}
	lb.Tone = analyseTone(pcm, from-base, 8000, phoneToneHz, toneDBm0)
	if err := r.waitQuiet(ctx, played.Add(toneMS*time.Millisecond), nil); err != nil {
		return err
	}

	r.side.startPolling()
	defer r.side.stopPolling()
	from = r.side.count()
	sent, err := r.phoneBursts(ctx)
	if err != nil {
		return err
	}
	if lb.Latency, err = r.phoneArrivals(ctx, from, sent); err != nil {
		return err
	}
	r.rep.Paths = append(r.rep.Paths, lb)
	return nil
}

// clientRoundTrips adds, per rate, client to phone plus phone to client.
func (r *runner) clientRoundTrips() {
	for _, rate := range r.o.Rates {
		var p2c, c2p *LatencyResult
		for i := range r.rep.Paths {
			p := &r.rep.Paths[i]
			if p.SampleRate != rate {
				continue
			}
			switch p.Path {
			case PathPhoneToClient:
				p2c = &p.Latency
			case PathClientToPhone:
				c2p = &p.Latency
			}
		}
		if p2c != nil && c2p != nil && p2c.Found > 0 && c2p.Found > 0 {
			r.rep.ClientRoundTrips = append(r.rep.ClientRoundTrips, ClientRoundTrip{SampleRate: rate, MS: round(p2c.MedianMS+c2p.MedianMS, 1)})
		}
	}
}
