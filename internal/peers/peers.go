// Package peers finds the third-party programs that integration tests use
// as real protocol peers (sipp, baresip, multimon-ng, sox, espeak-ng). A
// test whose peer is missing is skipped with the Debian package to install,
// or fails when SIPPHONE_REQUIRE_PEERS=1 (as in CI), so a missing install
// step cannot hide behind a green run.
package peers

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Require returns the path of program, or skips (fails under
// SIPPHONE_REQUIRE_PEERS=1) naming the Debian package that provides it.
func Require(t testing.TB, program, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	msg := program + " not found; install it with: sudo apt-get install " + debianPackage
	if os.Getenv("SIPPHONE_REQUIRE_PEERS") == "1" {
		t.Fatal(msg + " (SIPPHONE_REQUIRE_PEERS=1)")
	}
	t.Skip(msg)
	return ""
}

// FreeUDPPort returns a UDP port free on 127.0.0.1 at the time of the call,
// for programs that cannot be told to pick their own.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	for {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		// TCP on the same number must be free too (sipp and baresip open both).
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
}
