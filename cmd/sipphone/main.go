// Command sipphone turns an analog telephone on a Grandstream HT802 into a
// programmable smart-home device: it is the adapter's SIP server and offers
// a REST API and a WebSocket event stream. main only wires: see run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sip-phone-api/sipphone/internal/audiotest"
	"github.com/sip-phone-api/sipphone/internal/check"
	"github.com/sip-phone-api/sipphone/internal/dtmf"
	"github.com/sip-phone-api/sipphone/internal/loadtest"
	"github.com/sip-phone-api/sipphone/internal/sim"
)

// Build information, set with -ldflags "-X main.version=v1.2.3 -X main.commit=...
// -X main.date=..." (make build, scripts/release.sh). What is left empty is
// filled from the Go toolchain's build information (version.go).
var version, commit, date string

// usageError is a mistake in how the program was invoked or configured: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sipphone:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: sipphone [serve] [--config FILE]   run the server (default)
       sipphone check [--config FILE]     check the configuration, ports and the adapter
       sipphone healthcheck [--config FILE]  exit 0 when the running server is ready (for Docker)
       sipphone token [--config FILE]     print the API token clients on other machines send
       sipphone sim --server HOST:PORT    run a simulated HT802 (see sipphone sim --help)
       sipphone audiotest [--json] [--api URL]  test audio end to end: levels, SNR, latency (see --help)
       sipphone dtmf detect [--json] FILE.wav   list the DTMF keys in a recording (- reads stdin)
       sipphone loadtest [--calls 1,10,100,500] [--duration 10s]  measure call media under load (see --help)
       sipphone --version                 print the version, commit and build date
`

// run is the whole program, callable from tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "--version", "-version", "version":
			fmt.Fprintln(stdout, versionLine())
			return nil
		case "help", "--help", "-h":
			fmt.Fprint(stdout, usage)
			return nil
		case "serve":
			return serve(ctx, args[1:], getenv, stdout, stderr)
		case "check":
			return checkExit(check.RunCLI(ctx, args[1:], getenv, stdout, stderr))
		case "token":
			return token(args[1:], getenv, stdout, stderr)
		case "healthcheck":
			return checkExit(check.RunHealthCLI(ctx, args[1:], getenv, stdout, stderr))
		case "audiotest":
			if err := audiotest.RunCLI(ctx, args[1:], stdout, stderr); err != nil {
				return usageIfFlag(err)
			}
			return nil
		case "dtmf":
			if err := dtmf.RunCLIWithStdin(ctx, args[1:], stdin, stdout, stderr); err != nil {
				return usageIfFlag(err)
			}
			return nil
		case "loadtest":
			if err := loadtest.RunCLI(ctx, args[1:], stdout, stderr); err != nil {
				return usageIfFlag(err)
			}
			return nil
		case "sim":
			if err := sim.RunCLI(ctx, args[1:], stdin, stdout, stderr); err != nil {
				return usageIfFlag(err)
			}
			return nil
		}
	}
	return serve(ctx, args, getenv, stdout, stderr)
}
