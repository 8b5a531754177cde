package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone/internal/app"
	"github.com/sip-phone-api/sipphone/internal/check"
	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/logging"
	"github.com/sip-phone-api/sipphone/internal/sipserver"
)

// serve runs the server until ctx ends (SIGINT/SIGTERM), then shuts down.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sipphone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $SIP_PHONE_CONFIG or "+config.DefaultPath+" when it exists)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return nil
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), usage)}
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return usageError{fmt.Errorf("configuration:\n%w", err)}
	}
	period, size := cfg.Logging.RotationPeriod()
	log, closeLog, err := logging.New(logging.Options{Level: cfg.Logging.SlogLevel(), Format: cfg.Logging.Format, Output: cfg.Logging.Output,
		Rotation: period, RotateSize: size, Retention: cfg.Logging.RetentionPeriod()}, stdout, stderr)
	if err != nil {
		return usageError{err}
	}
	defer closeLog.Close()
	sip.SetDefaultLogger(sipserver.LibraryLogger(log)) // sipgo's few process-wide log lines
	a, err := app.New(cfg, log, version)
	if err != nil {
		return usageError{err}
	}
	if err := a.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeout))
	defer cancel()
	return a.Shutdown(sctx)
}

// checkExit maps the check commands' errors to exit statuses: a bad
// configuration or command line is 2, a failed check 1.
func checkExit(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, check.ErrConfig):
		return usageError{err}
	}
	return usageIfFlag(err)
}

// usageIfFlag marks flag errors of subcommands as usage errors (exit 2).
func usageIfFlag(err error) error {
	var fe interface{ FlagError() }
	if errors.As(err, &fe) {
		return usageError{err}
	}
	return err
}
