package app

import (
	"log/slog"
	"testing"

	"github.com/emiago/sipgo/sip"

	"go.uber.org/goleak"
)

// TestMain checks that every goroutine the servers, calls, streams and
// WebSocket clients of the tests started has ended.
func TestMain(m *testing.M) {
	// sipgo's process-wide logger (unparsable torture messages) is noise here.
	sip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections' goroutines for reuse.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
