package check

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sip-phone-api/sipphone/internal/config"
)

const healthUsage = `usage: sipphone healthcheck [--config FILE] [--url URL] [--timeout DURATION]

Asks the running server's REST API for GET /readyz (or URL) and succeeds when it
answers 200. For container health checks: the image has no curl or wget. The
address comes from the configuration as the server reads it (file and
environment); a wildcard listen address is reached on loopback.

`

// RunHealthCLI runs "sipphone healthcheck": it GETs the server's /readyz
// and returns nil on 200 OK. It prints one line to stdout ("ok URL" or the
// failure); flag errors and usage go to stderr.
func RunHealthCLI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), healthUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "configuration file (default $SIP_PHONE_CONFIG or "+config.DefaultPath+" when it exists)")
	url := fs.String("url", "", "`URL` to ask instead (default http://HOST:REST_PORT/readyz from the configuration)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return FlagError{err}
	}
	if fs.NArg() > 0 {
		return FlagError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *url == "" {
		cfg, err := config.Load(*cfgPath, getenv)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		*url = ReadyURL(cfg)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return FlagError{fmt.Errorf("--url: %w", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL %s: %v\n", *url, err)
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stdout, "FAIL %s: %s\n", *url, resp.Status)
		return fmt.Errorf("%w: %s answered %s", ErrFailed, *url, resp.Status)
	}
	fmt.Fprintf(stdout, "ok %s\n", *url)
	return nil
}

// ReadyURL returns the URL of the readiness endpoint of a server running
// with cfg, on loopback when it listens on every address.
func ReadyURL(cfg *config.Config) string {
	host := cfg.Server.EffectiveAPIHost()
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Server.RESTPort)) + "/readyz"
}
