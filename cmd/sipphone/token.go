package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sip-phone-api/sipphone/internal/apitoken"
	"github.com/sip-phone-api/sipphone/internal/config"
)

// token runs "sipphone token": it prints the API token clients on other
// machines must send, as the server keeps it.
func token(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $SIP_PHONE_CONFIG or "+config.DefaultPath+" when it exists)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("token: unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return usageError{err}
	}
	switch {
	case cfg.API.Auth == "none":
		fmt.Fprintln(stderr, "api.auth is none: the API takes no token")
		return nil
	case len(cfg.API.Tokens) > 0:
		fmt.Fprintln(stderr, "the API takes the tokens set in api.tokens (or API_TOKEN) of", cfg.Source)
		return nil
	}
	t, err := apitoken.Read(apitoken.Path(cfg.Server.StateFile))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t)
	return nil
}
