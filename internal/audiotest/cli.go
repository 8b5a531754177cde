package audiotest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

const cliUsage = `usage: sipphone audiotest [--json] [--codec PCMU|PCMA] [--rates 8000,16000] [--call ring|offhook]
       sipphone audiotest --api http://HOST:8000 [--sip HOST:5060] [--token T] [--user U [--auth-user A] --password P]

Tests the audio path end to end with a simulated HT802: a test tone and
latency markers from the phone to an audio-stream client, from the client to
the phone, and from the phone back to itself through the server's loopback.
It prints each path's level, frequency, SNR (the G.711 round trip) and
latency, and PASS/FAIL against the targets: latency under 100 ms one way
(200 ms round trip), SNR of at least 30 dB, level within 1 dB of what was
sent. The exit status is 1 when a check fails.

Without --api it starts its own server in-process on loopback: nothing to set
up. With --api it tests a running server; the simulated phone registers there
as --user (the server must accept it: add it to lines: or ht802.credentials).

flags:
`

// UsageError is a mistake in how the command was invoked; it names the
// flag at fault. Programs exit with status 2 for it.
type UsageError struct{ Err error }

// Error returns the message.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// FlagError marks the error as a usage error for callers that test for
// interface{ FlagError() }.
func (e *UsageError) FlagError() {}

// ErrChecksFailed is returned by RunCLI, after the report was printed,
// when at least one check failed.
var ErrChecksFailed = errors.New("audiotest: checks failed")

// RunCLI runs "sipphone audiotest": it parses args, runs the test and
// prints the report to stdout (JSON with --json). Logs go to stderr with
// -v. It returns a *UsageError for bad flags, an error wrapping
// ErrChecksFailed when a check failed, and other errors when the test
// could not be carried out.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audiotest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, cliUsage)
		fs.PrintDefaults()
	}
	var o Options
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.StringVar(&o.API, "api", "", "REST API of a running server, e.g. http://192.168.1.10:8000 (default: start one in-process)")
	fs.StringVar(&o.SIP, "sip", "", "`HOST:PORT` of the running server's SIP (default: the API host, port 5060)")
	fs.StringVar(&o.Token, "token", "", "API bearer token of the running server")
	fs.StringVar(&o.User, "user", DefaultUser, "SIP user of the simulated phone")
	fs.StringVar(&o.AuthUser, "auth-user", "", "Authenticate ID of the simulated phone (default: --user)")
	fs.StringVar(&o.Password, "password", "", "SIP password of the simulated phone")
	fs.StringVar(&o.Local, "local", "", "IP address the simulated phone binds (default: the one that reaches the server)")
	fs.StringVar(&o.Call, "call", DefaultCall, "how the call starts: ring (the server rings, the phone answers) or offhook (the phone calls)")
	fs.StringVar(&o.Codec, "codec", "", "codec of the in-process server: PCMU (default) or PCMA")
	rates := fs.String("rates", "8000,16000", "client stream sample rates to test, comma separated")
	verbose := fs.Bool("v", false, "log the server's and the phone's activity to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &UsageError{fmt.Errorf("audiotest: %w", err)}
	}
	if fs.NArg() > 0 {
		return &UsageError{fmt.Errorf("audiotest: unexpected argument %q", fs.Arg(0))}
	}
	for _, s := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return &UsageError{fmt.Errorf("audiotest: --rates: %q is not a number", s)}
		}
		o.Rates = append(o.Rates, n)
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := o.withDefaults().validate(); err != nil {
		return &UsageError{fmt.Errorf("audiotest: %w", err)}
	}
	rep, err := Run(ctx, o)
	if err != nil {
		return fmt.Errorf("audiotest: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		return fmt.Errorf("audiotest: writing the report: %w", err)
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return fmt.Errorf("%w: %d of %d (first: %s)", ErrChecksFailed, len(failed), len(rep.Checks), failed[0].Name)
	}
	return nil
}
