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
	GoalCPURatio = 3.0                  // server CPU per call at most 3x the relay's
	GoalP99Over  = 5 * time.Millisecond // server p99 latency at most 5 ms above the relay's
	GoalCalls    = 500                  // the number of simultaneous calls the goals are stated for
)

// WriteReport writes the results as markdown: one row per step, then the
// goals per number of calls.
func WriteReport(w io.Writer, o Options, rs []Result) {
	fmt.Fprintf(w, "Machine: %s, %d cores (GOMAXPROCS %d), %s. Window %v after %v warm-up; 20 ms PCMU packets; one WebSocket listener per call (mu-law, 8 kHz, 20 ms frames).\n\n",
		cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), o.Duration, o.Warmup)
	fmt.Fprintln(w, "| calls | target | calls up | packets sent | delivered | lost | p50 ms | p99 ms | max ms | CPU % of a core | CPU % per call | RSS MiB |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		if r.Window == 0 {
			fmt.Fprintf(w, "| %d | %s | %d |%s\n", r.Calls, r.Target, r.CallsUp, strings.Repeat(" |", 9))
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.1f | %.3f | %.1f |\n",
			r.Calls, r.Target, r.CallsUp, r.Sent, r.Delivered, r.Lost,
			ms(r.P50), ms(r.P99), ms(r.Max), r.CPUPercent, r.CPUPerCall, mib(r.RSS))
	}
	fmt.Fprintln(w, "\nDiagnostics: duplicates, frames misaligned with packets and frames without a mark; the server's own latency "+
		"(RTP arrival to WebSocket write, histogram bucket bounds); the harness's CPU, interrupt and softirq time (loopback delivery), other processes' CPU "+
		"and hypervisor steal (percent of one core); how late the harness's sending ran at worst; call setup time.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| calls | target | dup | misaligned | unmarked | server-side p50 / p99 ms | peak RSS MiB | harness CPU % | softirq % | other CPU % | steal % | send lag max ms | setup s | attempts |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		if r.Window == 0 {
			continue
		}
		inside := "–"
		if r.InsideP99 > 0 {
			inside = fmt.Sprintf("≤ %g / ≤ %g", ms(r.InsideP50), ms(r.InsideP99))
		}
		fmt.Fprintf(w, "| %d | %s | %d | %d | %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %d |\n",
			r.Calls, r.Target, r.Duplicates, r.Misaligned, r.Unmarked, inside, mib(r.PeakRSS),
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

	fmt.Fprintf(w, "\nGoals, stated for %d calls (other rows show the trend), server against the relay of the same run: "+
		"every packet delivered; CPU per call at most %gx; p99 at most %v above.\n\n", GoalCalls, GoalCPURatio, GoalP99Over)
	fmt.Fprintln(w, "| calls | server lost | delivered | CPU per call server / relay | p99 server − relay ms |")
	fmt.Fprintln(w, "|---:|---|---|---|---|")
	for _, g := range Goals(rs) {
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s |\n", g.Calls, g.Lost, passFail(g.DeliveryOK),
			fmt.Sprintf("%.2fx %s", g.CPURatio, passFail(g.CPUOK)), fmt.Sprintf("%+.2f %s", ms(g.P99Over), passFail(g.LatencyOK)))
	}
}

// Goal is the verdict on the goals for one number of calls.
type Goal struct {
	Calls                        int
	Lost                         uint64
	CPURatio                     float64
	P99Over                      time.Duration
	DeliveryOK, CPUOK, LatencyOK bool
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
			if r.Target != TargetRelay || r.Calls != s.Calls || r.Window == 0 {
				continue
			}
			g := Goal{Calls: s.Calls, Lost: s.Lost, P99Over: s.P99 - r.P99}
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
