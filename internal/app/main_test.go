package app

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every goroutine the servers, calls, streams and
// WebSocket clients of the tests started has ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections' goroutines for reuse.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
