package loadtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/apiclient"
	"github.com/sip-phone-api/sipphone/internal/dsp"
	"github.com/sip-phone-api/sipphone/internal/httpapi"
)

// The call's audio: 20 ms G.711 mu-law packets at 8 kHz.
const (
	frameBytes = 160
	frameTime  = 20 * time.Millisecond
	headerLen  = 12
	// slots spreads the calls' packets over each 20 ms, as phones that
	// went off-hook at different moments do: calls i, i+slots, ... send in
	// slot i. One timer wake-up per slot sends all of them.
	slots = 10
)

// Targets a step can measure.
const (
	TargetRelay  = "relay"
	TargetServer = "server"
)

// Options configure a run.
type Options struct {
	// Calls lists the numbers of simultaneous calls to measure, in order.
	Calls []int
	// Duration is the measurement window of each step; Warmup precedes it
	// (after every call is up).
	Duration, Warmup time.Duration
	// Server is the sipphone binary started as the server under test.
	Server string
	// Relay is the command line that starts the bare relay (a binary that
	// runs serveRelay: "sipphone loadtest --relay-serve").
	Relay []string
	// Targets are what each step measures: TargetRelay, TargetServer.
	Targets []string
	// Retries is how many times a step is run again when other processes
	// used more than MaxOther percent of a core during its window; the
	// last attempt is reported.
	Retries  int
	MaxOther float64
	// QuietWait is how long each step may wait for the machine to be
	// quiet (other processes below quietBusy of a core) before it starts;
	// zero starts at once.
	QuietWait time.Duration
	// Impairments are the network conditions to measure under; each
	// step of Calls and Targets runs once per impairment. Empty means one
	// clean run.
	Impairments []Impairment
	// Seed seeds the impairments' random delays and losses (call i uses
	// Seed+i), so a run can be repeated.
	Seed uint64
	// Progress receives one line per stage; nil discards.
	Progress io.Writer
}

// Impairment is what the simulated network does to the harness's RTP on
// its way to the target: each packet is dropped with probability Loss,
// and each one kept is delayed by a random 0..Jitter (uniform), so
// packets may overtake each other. Delays are applied by the sender's
// 2 ms slots, so they are rounded up to the next slot.
type Impairment struct {
	Jitter time.Duration
	Loss   float64
}

// IssueImpairments are the five network conditions of the audio-on-a-bad-
// network table: none, 20 ms jitter, 20 ms and 1 % loss, 5 % loss, 40 ms
// and 5 % loss.
var IssueImpairments = []Impairment{{0, 0}, {20 * time.Millisecond, 0}, {20 * time.Millisecond, 0.01}, {0, 0.05}, {40 * time.Millisecond, 0.05}}

// StallGap is the gap between two frames a listener counts as a stall.
const StallGap = 60 * time.Millisecond

func (i Impairment) String() string {
	return fmt.Sprintf("%v, %g %%", i.Jitter, 100*i.Loss)
}

// Result is the measurement of one target at one number of calls.
type Result struct {
	Target     string
	Impairment Impairment
	Calls      int // asked for
	CallsUp    int // set up and measured
	// Packets sent in the window, and of those, delivered (a frame carrying
	// the packet's mark arrived) and lost (never arrived).
	Sent, Delivered, Lost uint64
	// Duplicates: a packet's mark seen more than once. Misaligned: delivered
	// in a frame whose boundaries do not match the packet's (its latency is
	// not counted). Unmarked: frames without a readable mark (concealment).
	// Duplicates and Unmarked count frames inside the window only (after
	// the sender stops, the server conceals a short tail).
	Duplicates, Misaligned, Unmarked uint64
	// Frames: WebSocket frames that arrived in the window (concealment
	// included); Stalls: gaps of more than StallGap between two frames
	// of a call inside the window; AudioPercent: Frames per packet sent.
	Frames, Stalls uint64
	AudioPercent   float64
	// Latency from send to frame arrival, over aligned delivered packets.
	// Under an impairment it is counted from the packet's send time
	// before its delay, so it includes the network's delay.
	P50, P99, Max time.Duration
	// InsideP50 and InsideP99 are the server's own view over the window:
	// from RTP arrival at its socket to the frame written to the WebSocket
	// (latency_phone_to_client of GET /lines), as the upper bound of the
	// histogram bucket holding the percentile. Zero for the relay.
	InsideP50, InsideP99 time.Duration
	// Target process CPU (user+system) over the window, percent of one core,
	// and per call; its resident memory at the window's end and peak.
	CPUPercent, CPUPerCall float64
	RSS, PeakRSS           int64
	// The harness's own CPU; what every other process used (the
	// machine's busy time less the target's and the harness's); interrupt
	// and softirq time (mostly loopback delivery, already charged in part
	// to the process it ran in); and what the hypervisor stole from this
	// virtual machine: over the window, each in percent of one core. When
	// target, harness and others near the number of cores, the numbers
	// above measure the machine, not the target.
	HarnessCPU, SoftIRQ, OtherCPU, StealCPU float64
	// Attempts is how many times the step ran (see Options.Retries).
	Attempts int
	// SendLagMax is how far the harness's packet sending fell behind its
	// schedule at worst during the window.
	SendLagMax time.Duration
	Window     time.Duration
	SetupTime  time.Duration
	// Err says why the step did not run, or why calls failed to set up.
	Err string
}

// Run measures every target at every number of calls, one fresh child
// process per step, and returns the results in order. A step that fails
// is reported in its Result; Run itself fails only when ctx ends.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	var out []Result
	imps := o.Impairments
	if len(imps) == 0 {
		imps = []Impairment{{}}
	}
	for _, imp := range imps {
		for _, n := range o.Calls {
			for _, target := range o.Targets {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				var r Result
				for attempt := 1; ; attempt++ {
					if o.QuietWait > 0 {
						if busy, ok := waitQuiet(ctx, o.QuietWait); !ok {
							fmt.Fprintf(o.Progress, "loadtest: the machine stayed busy (%.0f%% of a core) for %v; measuring anyway\n", busy, o.QuietWait)
						}
					}
					fmt.Fprintf(o.Progress, "loadtest: %s, %d calls, network %v\n", target, n, imp)
					r = runStep(ctx, o, target, n, imp)
					r.Attempts = attempt
					if r.Err != "" {
						fmt.Fprintf(o.Progress, "loadtest: %s, %d calls: %s\n", target, n, r.Err)
					}
					if r.Window == 0 || r.OtherCPU <= o.MaxOther || attempt > o.Retries || ctx.Err() != nil {
						break
					}
					fmt.Fprintf(o.Progress, "loadtest: %s, %d calls: other processes used %.0f%% of a core during the window; measuring again\n",
						target, n, r.OtherCPU)
				}
				out = append(out, r)
			}
		}
	}
	return out, ctx.Err()
}

// call is one simulated phone's call.
type call struct {
	rtp    *net.UDPConn
	port   int
	dst    netip.AddrPort
	ws     *websocket.Conn
	sip    *sipCall
	active atomic.Bool // the sender sends its packets

	// Owned by the sender goroutine.
	pkt     [headerLen + frameBytes]byte
	next    uint32
	seq     uint16
	ts      uint32
	rng     *rand.Rand
	delayed []delayedPacket // packets the impairment holds back

	// sent[k] is when packet k was sent (ns since the harness's base);
	// written by the sender, read by the receiver.
	sent []atomic.Int64

	// Owned by the receiver goroutine until it has returned.
	lat            []int32 // µs from send to arrival
	got            []uint8 // gotNone, gotAligned, gotMisaligned
	dup, unmarked  uint64
	frames, stalls uint64 // inside the window
	lastFrame      int64
}

// delayedPacket is a packet the impairment sends at due.
type delayedPacket struct {
	due int64
	pkt [headerLen + frameBytes]byte
}

const (
	gotNone uint8 = iota
	gotAligned
	gotMisaligned
)

// harness is one step: n calls against one target.
type harness struct {
	calls []*call
	base  time.Time
	// While measuring is set, the sender (the only writer) keeps in lagMax
	// how late its worst sending slot ran, in nanoseconds.
	measuring atomic.Bool
	lagMax    atomic.Int64
	// The measurement window in the harness's clock, for the receivers;
	// zero until known.
	winStart, winEnd atomic.Int64
	imp              Impairment
	wg               sync.WaitGroup
}

// now is the harness's clock: nanoseconds since base, monotonic, never 0.
func (h *harness) now() int64 { return max(int64(time.Since(h.base)), 1) }

// filler is the audio after the mark: a 400 Hz tone at -30 dBm0, a whole
// number of periods per packet so packets join without clicks.
var filler = func() []byte {
	pcm := make([]int16, frameBytes)
	dsp.Tone(pcm, 8000, 400, -30, nil)
	b := make([]byte, frameBytes)
	dsp.EncodeUlaw(b, pcm)
	for i, c := range b {
		if c == 0x7F { // the one code G.711 does not carry through unchanged
			b[i] = 0xFF
		}
	}
	return b
}()

func newCall(packets int, imp Impairment, seed uint64) (*call, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("RTP socket: %w", err)
	}
	// The server's RTP to the phone is not read; a small buffer bounds
	// what the kernel holds of it.
	c.SetReadBuffer(4096)
	k := &call{rtp: c, port: c.LocalAddr().(*net.UDPAddr).Port, sent: make([]atomic.Int64, packets),
		lat: make([]int32, packets), got: make([]uint8, packets), seq: uint16(rand.Uint32()), ts: rand.Uint32(),
		rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	if imp.Jitter > 0 {
		k.delayed = make([]delayedPacket, 0, int(imp.Jitter/frameTime)+4)
	}
	k.pkt[0] = 0x80 // V=2
	k.pkt[1] = 0    // PCMU
	binary.BigEndian.PutUint32(k.pkt[8:], rand.Uint32())
	copy(k.pkt[headerLen:], filler)
	return k, nil
}

// sendPacket sends the call's next packet. It does not allocate.
func (c *call) sendPacket(h *harness) {
	if int(c.next) >= len(c.sent) {
		return
	}
	binary.BigEndian.PutUint16(c.pkt[2:], c.seq)
	binary.BigEndian.PutUint32(c.pkt[4:], c.ts)
	PutMark(c.pkt[headerLen:], c.next)
	now := h.now()
	c.sent[c.next].Store(now)
	switch {
	case h.imp.Loss > 0 && c.rng.Float64() < h.imp.Loss:
		// lost on the way
	case h.imp.Jitter > 0:
		c.delayed = append(c.delayed, delayedPacket{due: now + c.rng.Int64N(int64(h.imp.Jitter)+1), pkt: c.pkt})
	default:
		c.rtp.WriteToUDPAddrPort(c.pkt[:], c.dst)
	}
	c.next++
	c.seq++
	c.ts += frameBytes
}

// sendDelayed sends the held-back packets that are due at now.
func (c *call) sendDelayed(now int64) {
	for i := 0; i < len(c.delayed); {
		if d := &c.delayed[i]; d.due <= now {
			c.rtp.WriteToUDPAddrPort(d.pkt[:], c.dst)
			last := len(c.delayed) - 1
			c.delayed[i] = c.delayed[last]
			c.delayed = c.delayed[:last]
			continue
		}
		i++
	}
}

// send paces every active call's packets at real time until ctx ends.
func (h *harness) send(ctx context.Context) {
	defer h.wg.Done()
	slotTime := frameTime / slots
	start := time.Now()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * slotTime)
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		if h.measuring.Load() {
			h.lagMax.Store(max(h.lagMax.Load(), int64(time.Since(due))))
		}
		for i := k % slots; i < len(h.calls); i += slots {
			if c := h.calls[i]; c.active.Load() {
				c.sendPacket(h)
			}
		}
		if h.imp.Jitter > 0 {
			now := h.now()
			for _, c := range h.calls {
				c.sendDelayed(now)
			}
		}
	}
}

// receive reads the call's WebSocket frames and matches them to packets.
func (h *harness) receive(ctx context.Context, c *call) {
	defer h.wg.Done()
	buf := make([]byte, 4096)
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			return
		}
		n, err := readFrame(r, buf)
		if err != nil {
			return
		}
		now := h.now()
		if typ != websocket.MessageBinary {
			continue
		}
		ws, we := h.winStart.Load(), h.winEnd.Load()
		inWindow := ws != 0 && now >= ws && (we == 0 || now <= we)
		if inWindow {
			c.frames++
			if c.lastFrame >= ws && now-c.lastFrame > int64(StallGap) {
				c.stalls++
			}
		}
		c.lastFrame = now
		off := 0
		k, ok := ReadMark(buf[:n])
		if !ok {
			off, k, ok = FindMark(buf[:n])
		}
		if !ok || int(k) >= len(c.sent) {
			if inWindow {
				c.unmarked++
			}
			continue
		}
		sent := c.sent[k].Load()
		switch {
		case sent == 0:
			c.unmarked++ // a mark for a packet not sent: corrupted audio
		case c.got[k] != gotNone:
			if inWindow {
				c.dup++
			}
		default:
			c.lat[k] = int32(min((now-sent)/1000, math.MaxInt32))
			c.got[k] = gotAligned
			if off != 0 {
				c.got[k] = gotMisaligned
			}
		}
	}
}

// readFrame reads one message into buf; the part of a longer message that
// does not fit is discarded.
func readFrame(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if n == len(buf) {
			_, err := io.Copy(io.Discard, r)
			return n, err
		}
	}
}

// setupTimeout bounds setting up every call of a step.
const setupTimeout = 60 * time.Second

// setupWorkers is how many calls are set up at once.
const setupWorkers = 16

func runStep(ctx context.Context, o Options, target string, n int, imp Impairment) (res Result) {
	res = Result{Target: target, Calls: n, Impairment: imp}
	fail := func(err error) Result {
		res.Err = err.Error()
		return res
	}
	// Enough packet slots for the slowest setup, the warm-up, the window
	// and the tail.
	packets := int((setupTimeout+o.Warmup+o.Duration+2*time.Second)/frameTime) + 1
	h := &harness{base: time.Now(), imp: imp}
	defer func() {
		for _, c := range h.calls {
			c.rtp.Close()
		}
	}()
	for i := range n {
		c, err := newCall(packets, imp, o.Seed+uint64(i))
		if err != nil {
			return fail(err)
		}
		h.calls = append(h.calls, c)
	}

	var (
		proc    *child
		setup   func(ctx context.Context, i int, c *call) error
		cleanup func()
		inside  func(ctx context.Context) ([]uint64, error) // the server's latency histogram
	)
	switch target {
	case TargetRelay:
		relay, addr, err := startRelay(ctx, o.Relay)
		if err != nil {
			return fail(err)
		}
		proc = relay
		defer relay.stop()
		setup = func(ctx context.Context, i int, c *call) error { return setupRelayCall(ctx, addr, c) }
		cleanup = func() {}
	case TargetServer:
		dir, err := os.MkdirTemp("", "sipphone-loadtest-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(dir)
		srv, err := startServer(ctx, o.Server, dir, n)
		if err != nil {
			return fail(err)
		}
		proc = srv.child
		defer srv.stop()
		ua, err := newSIPUA(srv.sip)
		if err != nil {
			return fail(err)
		}
		defer ua.Close()
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: setupWorkers}}
		defer client.CloseIdleConnections()
		setup = func(ctx context.Context, i int, c *call) error {
			return setupServerCall(ctx, ua, client, srv.rest, i, c)
		}
		cleanup = func() { hangUp(ua, h.calls) }
		inside = func(ctx context.Context) ([]uint64, error) { return serverHistogram(ctx, client, srv.rest) }
	default:
		return fail(fmt.Errorf("unknown target %q", target))
	}

	sendCtx, stopSending := context.WithCancel(context.Background())
	recvCtx, stopReceiving := context.WithCancel(context.Background())
	h.wg.Add(1)
	go h.send(sendCtx)
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		stopSending()
		stopReceiving()
		for _, c := range h.calls {
			if c.ws != nil {
				c.ws.CloseNow()
			}
		}
		h.wg.Wait()
	}
	defer stopAll()

	// Set up every call; each starts sending once its WebSocket listens.
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	var (
		errMu    sync.Mutex // guards firstErr, failed
		firstErr error
		failed   int
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range min(setupWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c := h.calls[i]
				if err := setup(sctx, i, c); err != nil {
					errMu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				h.wg.Add(1)
				go h.receive(recvCtx, c)
				c.active.Store(true)
			}
		}()
	}
	wg.Wait()
	cancel()
	res.SetupTime = time.Since(start)
	res.CallsUp = n - failed
	if firstErr != nil {
		res.Err = fmt.Sprintf("%d of %d calls failed to set up; the first: %v", failed, n, firstErr)
	}
	if err := proc.exited(); err != nil {
		return fail(err)
	}
	fmt.Fprintf(o.Progress, "loadtest: %s, %d calls: %d up in %v; warm-up %v, measuring %v\n",
		target, n, res.CallsUp, res.SetupTime.Round(time.Millisecond), o.Warmup, o.Duration)
	if res.CallsUp == 0 {
		return res
	}

	if !sleep(ctx, o.Warmup) {
		return fail(ctx.Err())
	}
	var hist0, hist1 []uint64
	var errHist error
	if inside != nil {
		hist0, errHist = inside(ctx)
	}
	winStart := h.now()
	h.winStart.Store(winStart)
	h.measuring.Store(true)
	cpu0, err0 := procCPU(proc.pid())
	self0, _ := procCPU(0)
	m0, errM0 := machineCPU()
	if !sleep(ctx, o.Duration) {
		return fail(ctx.Err())
	}
	winEnd := h.now()
	h.winEnd.Store(winEnd)
	cpu1, err1 := procCPU(proc.pid())
	self1, _ := procCPU(0)
	m1, errM1 := machineCPU()
	rss, peak, errRSS := procRSS(proc.pid())
	if inside != nil && errHist == nil {
		hist1, errHist = inside(ctx)
	}
	if errHist != nil {
		res.addErr(fmt.Errorf("server latency histogram: %w", errHist))
	} else if hist1 != nil {
		for i := range hist1 {
			hist1[i] -= hist0[i]
		}
		res.InsideP50, res.InsideP99 = histogramQuantile(hist1, 0.5), histogramQuantile(hist1, 0.99)
	}
	h.measuring.Store(false)
	res.SendLagMax = time.Duration(h.lagMax.Load())
	if err := errors.Join(err0, err1, errRSS, errM0, errM1); err != nil {
		return fail(err)
	}
	// Keep sending a little so the window's last packets are not the
	// stream's last (nothing waits behind them), then let frames drain.
	sleep(ctx, 200*time.Millisecond)
	stopSending()
	sleep(ctx, 500*time.Millisecond)
	stopAll()
	cleanup()
	res.addErr(proc.exited())

	window := time.Duration(winEnd - winStart)
	res.Window = window
	res.CPUPercent = 100 * float64(cpu1-cpu0) / float64(window)
	res.CPUPerCall = res.CPUPercent / float64(res.CallsUp)
	res.RSS, res.PeakRSS = rss, peak
	res.HarnessCPU = 100 * float64(self1-self0) / float64(window)
	// Busy time is what the cores did not idle (the idle time is exact;
	// the kernel's user and system columns are sampled by the tick and
	// undercount short bursts). Processes' times already include the
	// softirq work done in their context, so it is not subtracted.
	res.OtherCPU = busyPercent(m0, m1, window) - res.CPUPercent - res.HarnessCPU
	res.SoftIRQ = 100 * float64(m1.softirq-m0.softirq) / float64(window)
	res.StealCPU = 100 * float64(m1.steal-m0.steal) / float64(window)
	var lat []int32
	for _, c := range h.calls {
		res.Duplicates += c.dup
		res.Unmarked += c.unmarked
		res.Frames += c.frames
		res.Stalls += c.stalls
		for k := range c.sent {
			s := c.sent[k].Load()
			if s < winStart || s >= winEnd {
				continue
			}
			res.Sent++
			switch c.got[k] {
			case gotAligned:
				res.Delivered++
				lat = append(lat, c.lat[k])
			case gotMisaligned:
				res.Delivered++
				res.Misaligned++
			}
		}
	}
	res.Lost = res.Sent - res.Delivered
	if res.Sent > 0 {
		res.AudioPercent = 100 * float64(res.Frames) / float64(res.Sent)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		us := func(v int32) time.Duration { return time.Duration(v) * time.Microsecond }
		res.P50 = us(lat[percentileIndex(len(lat), 50)])
		res.P99 = us(lat[percentileIndex(len(lat), 99)])
		res.Max = us(lat[len(lat)-1])
	}
	return res
}

// quietBusy is the CPU share of one core other processes may use for the
// machine to count as quiet.
const quietBusy = 15.0

// waitQuiet waits up to max for a second in which the machine's busy time
// stays below quietBusy percent of one core, and returns the last busy
// share seen and whether it was quiet.
func waitQuiet(ctx context.Context, max time.Duration) (float64, bool) {
	deadline := time.Now().Add(max)
	busy := 0.0
	for time.Now().Before(deadline) {
		m0, err := machineCPU()
		start := time.Now()
		if err != nil || !sleep(ctx, time.Second) {
			return 0, false
		}
		m1, err := machineCPU()
		if err != nil {
			return 0, false
		}
		busy = busyPercent(m0, m1, time.Since(start))
		if busy < quietBusy {
			return busy, true
		}
	}
	return busy, false
}

// busyPercent is how busy the machine's cores were between two readings
// elapsed apart, in percent of one core.
func busyPercent(m0, m1 cpuTimes, elapsed time.Duration) float64 {
	idle := m1.idle - m0.idle + m1.steal - m0.steal
	return 100 * (float64(runtime.NumCPU())*float64(elapsed) - float64(idle)) / float64(elapsed)
}

// addErr appends err (if any) to r.Err.
func (r *Result) addErr(err error) {
	switch {
	case err == nil:
	case r.Err == "":
		r.Err = err.Error()
	default:
		r.Err += "; " + err.Error()
	}
}

// percentileIndex is the nearest-rank index of the p-th percentile of n
// sorted values.
func percentileIndex(n int, p float64) int {
	i := int(math.Ceil(p/100*float64(n))) - 1
	return min(max(i, 0), n-1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// setupRelayCall connects the call's WebSocket to the relay and learns the
// UDP port to send to.
func setupRelayCall(ctx context.Context, addr string, c *call) error {
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+relayPath, nil)
	if err != nil {
		return fmt.Errorf("relay WebSocket: %w", err)
	}
	typ, b, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText {
		ws.CloseNow()
		return fmt.Errorf("relay WebSocket: no port message: %v", err)
	}
	p, err := netip.ParseAddrPort("127.0.0.1:" + string(b))
	if err != nil {
		ws.CloseNow()
		return fmt.Errorf("relay port: %w", err)
	}
	c.dst, c.ws = p, ws
	return nil
}

// setupServerCall is a phone going off-hook and a client listening to it:
// REGISTER, INVITE to the auto-dial number 100, ACK, POST /audio/start for
// 8 kHz mu-law in 20 ms frames (so frames are the phone's packets passed
// through the server's decode and encode) and the stream's WebSocket.
func setupServerCall(ctx context.Context, ua *sipUA, client *http.Client, rest string, i int, c *call) error {
	user := fmt.Sprintf("load%d", i+1)
	if err := ua.register(ctx, user); err != nil {
		return err
	}
	sc, err := ua.invite(ctx, user, "100", c.port)
	if err != nil {
		return err
	}
	c.sip, c.dst = sc, sc.remoteRTP
	api := &apiclient.Client{Base: rest, HTTP: client}
	st, err := api.AudioStart(ctx, httpapi.AudioStartBody{Line: user, Format: "ulaw", SampleRate: 8000, FrameMS: 20, Direction: "in"})
	if err != nil {
		return fmt.Errorf("audio stream for %s: %w", user, err)
	}
	ws, _, err := websocket.Dial(ctx, st.WSURL, nil)
	if err != nil {
		return fmt.Errorf("audio WebSocket for %s: %w", user, err)
	}
	c.ws = ws
	return nil
}

// serverHistogram sums the latency_phone_to_client histograms of every
// line's call from GET /lines.
func serverHistogram(ctx context.Context, client *http.Client, rest string) ([]uint64, error) {
	lines, err := (&apiclient.Client{Base: rest, HTTP: client}).Lines(ctx)
	if err != nil {
		return nil, err
	}
	sum := make([]uint64, len(sipphone.LatencyBuckets)+1)
	for _, l := range lines {
		if l.Call == nil || l.Call.Media == nil {
			continue
		}
		for i, c := range l.Call.Media.CaptureLatency.Counts {
			if i < len(sum) {
				sum[i] += c
			}
		}
	}
	return sum, nil
}

// histogramQuantile returns the upper bound of the bucket holding the q
// quantile (the overflow bucket reports twice the last bound).
func histogramQuantile(counts []uint64, q float64) time.Duration {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= target && c > 0 {
			if i < len(sipphone.LatencyBuckets) {
				return sipphone.LatencyBuckets[i]
			}
			return 2 * sipphone.LatencyBuckets[len(sipphone.LatencyBuckets)-1]
		}
	}
	return 0
}

// hangUp puts every handset down (BYE), a few at a time, best effort: the
// server is stopped next anyway.
func hangUp(ua *sipUA, calls []*call) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	work := make(chan *sipCall)
	for range setupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sc := range work {
				ua.bye(ctx, sc, "100")
			}
		}()
	}
	for _, c := range calls {
		if c.sip != nil {
			work <- c.sip
		}
	}
	close(work)
	wg.Wait()
}
