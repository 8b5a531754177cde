package sim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requirePeer returns the path of an external program, skipping the test
// when it is missing unless SIPPHONE_REQUIRE_PEERS=1.
func requirePeer(t *testing.T, prog, debPackage string) string {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("SIPPHONE_REQUIRE_PEERS") == "1" {
			t.Fatalf("%s not found (install the Debian package %s)", prog, debPackage)
		}
		t.Skipf("%s not found: install the Debian package %s", prog, debPackage)
	}
	return path
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// udpPortBound reports whether a UDP socket is bound to port, from
// /proc/net/udp (the test is skipped where that does not exist).
func udpPortBound(t *testing.T, port int) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Skipf("cannot observe sockets: %v", err)
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1]+" ", want) {
			return true
		}
	}
	return false
}

// runSipp runs sipp in a temporary directory and returns its output.
func runSipp(ctx context.Context, t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	path := requirePeer(t, "sipp", "sip-tester")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append([]string{"-nostdin", "-timeout", "10s", "-timeout_error", "-mi", "127.0.0.1",
		"-mp", strconv.Itoa(freePort(t, "udp"))}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// TestSippCallsThePhone has sipp's built-in UAC call a line: the phone must
// ring, auto-answer, and accept sipp's BYE.
func TestSippCallsThePhone(t *testing.T) {
	requirePeer(t, "sipp", "sip-tester")
	p, err := New(Config{Server: "127.0.0.1:9", NoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cmd, out := runSipp(ctx, t, "-sn", "uac", "-m", "1", "-d", "300", "-s", "phone1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t, "udp")), p.ContactAddr(0))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sipp failed: %v\n%s", err, out.String())
	}
	waitEvent(t, p, EventRinging)
	waitEvent(t, p, EventAnswered)
	waitEvent(t, p, EventHangupByServer)
	if got := p.State(0); got != StateIdle {
		t.Errorf("state %q", got)
	}
}

// TestSippAnswersThePhone lifts the handset against a sipp UAS
// (testdata/sipp_uas.xml) that checks the INVITE's User-Agent and SDP
// offer, answers, and expects ACK and the BYE on hanging up.
func TestSippAnswersThePhone(t *testing.T) {
	requirePeer(t, "sipp", "sip-tester")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	port := freePort(t, "udp")
	scenario, err := filepath.Abs("testdata/sipp_uas.xml")
	if err != nil {
		t.Fatal(err)
	}
	cmd, out := runSipp(ctx, t, "-sf", scenario, "-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(port))
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	p, err := New(Config{Server: "127.0.0.1:" + strconv.Itoa(port), NoRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait for sipp's socket, observed without touching the port.
	waitUntil(t, "sipp listening", func() bool { return udpPortBound(t, port) })
	if err := p.OffHook(ctx, 0); err != nil {
		t.Fatalf("offhook against sipp: %v\n%s", err, out.String())
	}
	waitUntil(t, "RTP to sipp", func() bool { return p.Received(0).Sent >= 5 })
	if err := p.OnHook(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sipp failed: %v\n%s", err, out.String())
	}
}
