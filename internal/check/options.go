package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// t1 is the RFC 3261 round-trip estimate: a request over UDP is
// retransmitted after T1, 2*T1, 4*T1, ... (Timer E, section 17.1.2.2).
const t1 = 500 * time.Millisecond

// probeResult is an answered OPTIONS request.
type probeResult struct {
	status string        // "200 OK"
	rtt    time.Duration // from the first transmission to the answer
	sent   int           // transmissions
}

// probe sends a SIP OPTIONS request over UDP to addr and waits up to
// timeout for a final response to it. Any final response counts as an
// answer: the adapter is up and speaks SIP.
func probe(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (probeResult, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return probeResult{}, fmt.Errorf("cannot send: %w", err)
	}
	defer conn.Close()
	// Cancelling ctx closes the socket, which ends a blocked read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	callID := randomHex(12)
	req := optionsRequest(addr, local, randomHex(8), randomHex(4), callID)

	start := time.Now()
	deadline := start.Add(timeout)
	interval := t1
	sent := 0
	buf := make([]byte, 65535)
	for {
		if _, err := conn.Write(req); err != nil {
			return probeResult{}, errors.Join(ctx.Err(), sendError(err))
		}
		sent++
		resend := time.Now().Add(interval)
		interval *= 2
		wait := resend
		if deadline.Before(wait) {
			wait = deadline
		}
		for {
			conn.SetReadDeadline(wait)
			n, err := conn.Read(buf)
			if ctx.Err() != nil {
				return probeResult{}, ctx.Err()
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return probeResult{}, sendError(err)
			}
			status, code, ok := parseResponse(buf[:n], callID)
			if !ok || code < 200 {
				continue // not ours, or provisional
			}
			return probeResult{status: status, rtt: time.Since(start), sent: sent}, nil
		}
		if !time.Now().Before(deadline) {
			return probeResult{}, fmt.Errorf("no answer to OPTIONS within %v (%d transmissions)", timeout, sent)
		}
	}
}

// sendError explains the errors a connected UDP socket reports.
func sendError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errors.New("refused (ICMP port unreachable): nothing listens on that port")
	}
	if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return fmt.Errorf("unreachable: %w", err)
	}
	return err
}

// optionsRequest builds an out-of-dialog OPTIONS request (RFC 3261
// section 11) from local to addr.
func optionsRequest(addr, local netip.AddrPort, branch, tag, callID string) []byte {
	target := "sip:" + addr.String()
	host := local.String()
	var b bytes.Buffer
	fmt.Fprintf(&b, "OPTIONS %s SIP/2.0\r\n", target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", host, branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:sipphone-check@%s>;tag=%s\r\n", host, tag)
	fmt.Fprintf(&b, "To: <%s>\r\n", target)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	b.WriteString("CSeq: 1 OPTIONS\r\n")
	fmt.Fprintf(&b, "Contact: <sip:sipphone-check@%s>\r\n", host)
	b.WriteString("Accept: application/sdp\r\n")
	b.WriteString("User-Agent: sipphone-check\r\n")
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

// parseResponse returns the status ("200 OK") and code of a SIP response
// whose Call-ID is callID; ok is false for anything else.
func parseResponse(msg []byte, callID string) (status string, code int, ok bool) {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	rest, found := strings.CutPrefix(lines[0], "SIP/2.0 ")
	if !found || len(rest) < 3 {
		return "", 0, false
	}
	code, err := strconv.Atoi(rest[:3])
	if err != nil || code < 100 || code > 699 {
		return "", 0, false
	}
	for _, l := range lines[1:] {
		name, value, found := strings.Cut(l, ":")
		if !found {
			continue
		}
		name = strings.TrimSpace(name)
		if strings.EqualFold(name, "Call-ID") || name == "i" { // "i" is the compact form
			if strings.TrimSpace(value) == callID {
				return strings.TrimSpace(rest), code, true
			}
			return "", 0, false
		}
	}
	return "", 0, false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
