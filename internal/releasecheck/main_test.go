package releasecheck

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the goroutines the checks start (process waiters,
// output readers, WebSocket clients) have ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections' goroutines for reuse.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
