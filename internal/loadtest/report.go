package loadtest

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// The goals the load test checks the server against, relative to the bare
// relay measured in the same run.
const (
	GoalCPURatio   = 2.0                  // server CPU per call at most 2x the relay's
	GoalP99Over    = 2 * time.Millisecond // server p99 latency at most 2 ms above the relay's
	GoalCalls      = 500                  // the number of simultaneous calls the goals are stated for
	GoalRSSPerCall = 150 << 10            // server resident memory per call, with one listener
	// Under an impairment of jitter J: no stall, every frame of audio
	// (concealment included) and p99 at most J + GoalImpairedP99Over.
	GoalImpairedP99Over = 20 * time.Millisecond
)

// WriteReport writes the results as markdown: one row per step, then the
// goals per number of calls.
func WriteReport(w io.Writer, o Options, rs []Result) {
	fmt.Fprintf(w, "Machine: %s, %d cores (GOMAXPROCS %d), %s. Window %v after %v warm-up; 20 ms PCMU packets; one WebSocket listener per call (mu-law, 8 kHz, 20 ms frames).\n\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), o.Duration, o.Warmup)
	fmt.Fprintln(w, "| network (J, L) | calls | target | calls up | packets sent | delivered | lost | p50 ms | p99 ms | max ms | stalls | audio % | CPU % of a core | CPU % per call | RSS MiB |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		if r.Window == 0 {
			fmt.Fprintf(w, "| %v | %d | %s | %d |%s\n", r.Impairment, r.Calls, r.Target, r.CallsUp, strings.Repeat(" |", 11))
			continue
		}
		fmt.Fprintf(w, "| %v | %d | %s | %d | %d | %d | %d | %.2f | %.2f | %.2f | %d | %.1f | %.1f | %.3f | %.1f |\n",
			r.Impairment, r.Calls, r.Target, r.CallsUp, r.Sent, r.Delivered, r.Lost,
			ms(r.P50), ms(r.P99), ms(r.Max), r.Stalls, r.AudioPercent, r.CPUPercent, r.CPUPerCall, mib(r.RSS))
	}
	fmt.Fprintln(w, "\nDiagnostics: duplicates, frames misaligned with packets and frames without a mark; the server's own latency "+
		"(RTP arrival to WebSocket write, histogram bucket bounds); the harness's CPU, interrupt and softirq time (loopback delivery), other processes' CPU "+
		"and hypervisor steal (percent of one core); how late the harness's sending ran at worst; call setup time.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| network (J, L) | calls | target | dup | misaligned | unmarked | server-side p50 / p99 ms | peak RSS MiB | harness CPU % | softirq % | other CPU % | steal % | send lag max ms | setup s | attempts |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		if r.Window == 0 {
			continue
		}
		inside := "–"
		if r.InsideP99 > 0 {
			inside = fmt.Sprintf("≤ %g / ≤ %g", ms(r.InsideP50), ms(r.InsideP99))
		}
		fmt.Fprintf(w, "| %v | %d | %s | %d | %d | %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n",
			r.Impairment, r.Calls, r.Target, r.Duplicates, r.Misaligned, r.Unmarked, inside, mib(r.PeakRSS),
			r.HarnessCPU, r.SoftIRQ, r.OtherCPU, r.StealCPU, ms(r.SendLagMax), r.SetupTime.Seconds(), r.Attempts)
	}
	var notes []string
	for _, r := range rs {
		if r.Err != "" {
			notes = append(notes, fmt.Sprintf("- %s, %d calls: %s", r.Target, r.Calls, strings.ReplaceAll(strings.TrimSpace(r.Err), "\n", "\n  ")))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nProblems:\n\n%s\n", strings.Join(notes, "\n"))
	}

	gs := Goals(rs)
	var clean, impaired []Goal
	for _, g := range gs {
		if g.Impairment == (Impairment{}) {
			clean = append(clean, g)
		}
	}
	if len(clean) > 0 {
		fmt.Fprintf(w, "\nGoals on a clean network, stated for %d calls (other rows show the trend), server against the relay of the same run: "+
			"every packet delivered; CPU per call at most %gx; p99 at most %v above; resident memory at most %d KiB per call.\n\n",
			GoalCalls, GoalCPURatio, GoalP99Over, GoalRSSPerCall>>10)
		fmt.Fprintln(w, "| calls | server lost | delivered | CPU per call server / relay | p50 server − relay ms | p99 server − relay ms | RSS per call server / relay KiB |")
		fmt.Fprintln(w, "|---:|---|---|---|---|---|---|")
		for _, g := range clean {
			fmt.Fprintf(w, "| %d | %d | %s | %s | %+.2f | %s | %s |\n", g.Calls, g.Lost, passFail(g.DeliveryOK),
				fmt.Sprintf("%.2fx %s", g.CPURatio, passFail(g.CPUOK)), ms(g.P50Over), fmt.Sprintf("%+.2f %s", ms(g.P99Over), passFail(g.LatencyOK)),
				fmt.Sprintf("%.0f / %.0f %s", g.RSSPerCall/1024, g.RelayRSSPerCall/1024, passFail(g.RSSOK)))
		}
	}
	for _, g := range gs {
		if g.Impairment != (Impairment{}) {
			impaired = gs // the table of a run with impairments has its clean rows too
			break
		}
	}
	if len(impaired) > 0 {
		fmt.Fprintf(w, "\nAudio on a bad network: each RTP packet delayed by a random 0..J and dropped with probability L; a stall is a gap of more than %v "+
			"between two frames of a listener; audio is frames per packet sent (concealment included). Goals for the server: 0 stalls, 100 %% audio, p99 at most J + %v.\n\n",
			StallGap, GoalImpairedP99Over)
		fmt.Fprintln(w, "| J, L | calls | server p50 / p99 ms | stalls | audio % | relay p99 ms | relay stalls | relay audio % | goals |")
		fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---|")
		for _, g := range impaired {
			fmt.Fprintf(w, "| %v | %d | %.1f / %.1f | %d | %.1f | %.1f | %d | %.1f | %s |\n", g.Impairment, g.Calls, ms(g.server.P50), ms(g.server.P99),
				g.server.Stalls, g.server.AudioPercent, ms(g.relay.P99), g.relay.Stalls, g.relay.AudioPercent, passFail(g.ImpairedOK))
		}
	}
}

// Goal is the verdict on the goals for one number of calls.
type Goal struct {
	Calls                        int
	Impairment                   Impairment
	Lost                         uint64
	CPURatio                     float64
	P50Over, P99Over             time.Duration
	RSSPerCall, RelayRSSPerCall  float64 // bytes
	DeliveryOK, CPUOK, LatencyOK bool
	RSSOK                        bool
	// ImpairedOK: no stall, at least 99.9 % audio and p99 at most
	// J + GoalImpairedP99Over (the goals under an impairment).
	ImpairedOK    bool
	server, relay Result
}

// Goals pairs each server result with the relay result of the same number
// of calls and checks the goals.
func Goals(rs []Result) []Goal {
	var out []Goal
	for _, s := range rs {
		if s.Target != TargetServer || s.Window == 0 {
			continue
		}
		for _, r := range rs {
			if r.Target != TargetRelay || r.Calls != s.Calls || r.Impairment != s.Impairment || r.Window == 0 {
				continue
			}
			g := Goal{Calls: s.Calls, Impairment: s.Impairment, Lost: s.Lost, P50Over: s.P50 - r.P50, P99Over: s.P99 - r.P99, server: s, relay: r}
			if s.CallsUp > 0 && r.CallsUp > 0 {
				g.RSSPerCall, g.RelayRSSPerCall = float64(s.RSS)/float64(s.CallsUp), float64(r.RSS)/float64(r.CallsUp)
			}
			g.RSSOK = g.RSSPerCall > 0 && g.RSSPerCall <= GoalRSSPerCall
			g.ImpairedOK = s.CallsUp == s.Calls && s.Stalls == 0 && s.AudioPercent >= 99.9 && s.P99 <= s.Impairment.Jitter+GoalImpairedP99Over
			if r.CPUPerCall > 0 {
				g.CPURatio = s.CPUPerCall / r.CPUPerCall
			}
			g.DeliveryOK = s.CallsUp == s.Calls && s.Sent > 0 && s.Lost == 0
			g.CPUOK = r.CPUPerCall > 0 && g.CPURatio <= GoalCPURatio
			g.LatencyOK = g.P99Over <= GoalP99Over
			out = append(out, g)
			break
		}
	}
	return out
}

func passFail(ok bool) string {
	if ok {
		return "pass"
	}
	return "**fail**"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(ln, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
