package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary act as the relay child: the harness starts
// os.Executable() with relayRoleEnv set, and a test binary cannot take
// "loadtest --relay-serve" as its arguments.
func TestMain(m *testing.M) {
	if os.Getenv(relayRoleEnv) == "relay" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := RunCLI(ctx, []string{"--relay-serve"}, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
