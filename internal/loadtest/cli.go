package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

const cliUsage = `usage: sipphone loadtest [flags]

Runs many simultaneous calls through a sipphone server started as a child
process on loopback, each call sending 20 ms PCMU RTP and each with a
listening audio WebSocket, and through a bare relay (UDP in, the payload out
on a WebSocket) in another child process; prints a markdown table of packet
loss, latency from RTP send to WebSocket frame, CPU per call and memory.

flags:
`

// usageError is a mistake in the command line (the CLI exits with status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// FlagError marks the error as a command-line mistake.
func (usageError) FlagError() {}

// RunCLI runs "sipphone loadtest": it parses args, runs every step and
// prints the markdown report to stdout (and to --out), progress to stderr.
// With --relay-serve it is the bare relay child instead, until ctx ends.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	calls := fs.String("calls", "1,10,100,500", "numbers of simultaneous calls, comma separated")
	duration := fs.Duration("duration", 10*time.Second, "measurement window of each step")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up after the calls are up, before the window")
	bin := fs.String("bin", "", "sipphone binary to start as the server under test (default: this program)")
	targets := fs.String("targets", TargetRelay+","+TargetServer, "what to measure: relay, server or both")
	out := fs.String("out", "", "also write the report to this file")
	retries := fs.Int("retries", 2, "run a step again (up to this many times) when other processes used more than --max-other of a core during it")
	maxOther := fs.Float64("max-other", 15, "percent of one core other processes may use during a step's window")
	quiet := fs.Duration("quiet-wait", time.Minute, "before each step, wait up to this long for other processes to go quiet (0: do not wait)")
	cpuProfile := fs.String("cpuprofile", "", "write the harness's own CPU profile to this file")
	jitter := fs.Duration("jitter", 0, "delay each RTP packet by a random 0..this (uniform; packets may overtake each other)")
	loss := fs.Float64("loss", 0, "drop each RTP packet with this probability (0-1)")
	seed := fs.Uint64("seed", 1, "seed of the random delays and losses")
	impaired := fs.Bool("impaired", false, "measure under the five network conditions of the bad-network table (0/20/20/0/40 ms jitter, 0/0/1/5/5 % loss); --calls defaults to 10")
	relayServe := fs.Bool("relay-serve", false, "") // the relay child's role; not for users
	fs.Usage = func() {
		fmt.Fprint(stderr, cliUsage)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "relay-serve" {
				return
			}
			name, use := flag.UnquoteUsage(f)
			fmt.Fprintf(stderr, "  --%s %s\n    \t%s", f.Name, name, use)
			if f.DefValue != "" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("loadtest: unexpected argument %q", fs.Arg(0))}
	}
	if *relayServe {
		return serveRelay(ctx, stdout)
	}
	o := Options{Duration: *duration, Warmup: *warmup, Server: *bin, QuietWait: *quiet, Retries: *retries, MaxOther: *maxOther, Progress: stderr, Seed: *seed}
	if *jitter < 0 || *jitter > 2*time.Second || *loss < 0 || *loss >= 1 {
		return usageError{errors.New("loadtest: --jitter must be 0-2s and --loss 0 up to (not including) 1")}
	}
	switch {
	case *impaired && (*jitter != 0 || *loss != 0):
		return usageError{errors.New("loadtest: --impaired runs its own five conditions; leave out --jitter and --loss")}
	case *impaired:
		o.Impairments = IssueImpairments
		callsSet := false
		fs.Visit(func(f *flag.Flag) { callsSet = callsSet || f.Name == "calls" })
		if !callsSet {
			*calls = "10"
		}
	case *jitter != 0 || *loss != 0:
		o.Impairments = []Impairment{{Jitter: *jitter, Loss: *loss}}
	}
	for _, s := range strings.Split(*calls, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 5000 {
			return usageError{fmt.Errorf("loadtest: --calls: %q is not a number of calls (1-5000)", s)}
		}
		o.Calls = append(o.Calls, n)
	}
	for _, t := range strings.Split(*targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case TargetRelay, TargetServer:
			o.Targets = append(o.Targets, t)
		default:
			return usageError{fmt.Errorf("loadtest: --targets: unknown target %q (relay, server)", t)}
		}
	}
	if o.Duration < time.Second || o.Warmup < 0 {
		return usageError{errors.New("loadtest: --duration must be at least 1s and --warmup not negative")}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("loadtest: cannot find this program to start the relay: %w", err)
	}
	o.Relay = []string{self, "loadtest", "--relay-serve"}
	if o.Server == "" {
		o.Server = self
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("loadtest: --cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("loadtest: --cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rs, err := Run(ctx, o)
	var report strings.Builder
	WriteReport(&report, o, rs)
	fmt.Fprint(stdout, report.String())
	if *out != "" {
		if werr := os.WriteFile(*out, []byte(report.String()), 0o644); werr != nil {
			return errors.Join(err, fmt.Errorf("loadtest: --out: %w", werr))
		}
	}
	return err
}
