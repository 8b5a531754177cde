// Package check is "sipphone check": it checks, before the server is
// started, that the configuration is valid, that every port it will listen
// on is free, that the state file and the log output are writable, and that
// the HT802 adapter answers SIP OPTIONS. It prints one line per check,
// PASS or FAIL, and succeeds only when every check passes.
package check

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sip-phone-api/sipphone/internal/config"
	"github.com/sip-phone-api/sipphone/internal/state"
)

// ErrConfig is wrapped by RunCLI's error when the configuration does not
// load; no other check runs then. Callers exit with status 2 for it, as the
// server does for a bad configuration.
var ErrConfig = errors.New("configuration is invalid")

// ErrFailed is wrapped by RunCLI's error when some check failed; callers
// exit with status 1.
var ErrFailed = errors.New("checks failed")

// FlagError is a mistake in the command line (exit status 2).
type FlagError struct{ Err error }

func (e FlagError) Error() string { return e.Err.Error() }
func (e FlagError) Unwrap() error { return e.Err }

// FlagError marks the error as a usage error.
func (FlagError) FlagError() {}

const usage = `usage: sipphone check [--config FILE] [--adapter-port PORTS] [--timeout DURATION]

Checks, before the server starts, that the configuration loads, that the SIP,
REST, WebSocket and RTP ports are free, that the state file and the log output
are writable, and, when ht802.host is set, that the adapter answers SIP OPTIONS.
Run it while the server is stopped: the server's own ports would show as busy.
One line per check; exit status 0 when all pass, 1 when a check fails, 2 when
the configuration is invalid.

`

// RunCLI runs "sipphone check" with args (the arguments after "check").
// getenv is the environment the configuration is loaded with. Results go
// to stdout; flag errors and usage to stderr. It returns nil when every
// check passed, an error wrapping ErrConfig when the configuration does not
// load, one wrapping ErrFailed when another check failed, and a FlagError
// for a bad command line.
func RunCLI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "configuration file (default $SIP_PHONE_CONFIG or "+config.DefaultPath+" when it exists)")
	ports := fs.String("adapter-port", "5060", "the adapter's SIP `PORTS` to probe, comma separated (an HT802's port 2 listens on 5062 by default)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the adapter's answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return FlagError{err}
	}
	if fs.NArg() > 0 {
		return FlagError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	adapterPorts, err := parsePorts(*ports)
	if err != nil {
		return FlagError{fmt.Errorf("--adapter-port: %w", err)}
	}
	if *timeout <= 0 {
		return FlagError{errors.New("--timeout must be positive")}
	}

	r := &report{w: stdout}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		for _, e := range flatten(err) {
			r.fail("config", strings.ReplaceAll(e.Error(), "\n", "; "))
		}
		return fmt.Errorf("%w: %d problem(s)", ErrConfig, r.failed)
	}
	if cfg.Source == "" {
		r.pass("config", "built-in defaults and environment (no file)")
	} else {
		r.pass("config", cfg.Source)
	}
	checkPorts(r, cfg)
	checkState(r, cfg.Server.StateFile)
	checkLog(r, cfg.Logging)
	checkAdapter(ctx, r, cfg.HT802.Host.Entries, adapterPorts, *timeout)
	if r.failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrFailed, r.failed, r.total)
	}
	return nil
}

// report prints check results.
type report struct {
	w             io.Writer
	total, failed int
}

func (r *report) pass(what, detail string) { r.line("PASS", what, detail); r.total++ }
func (r *report) fail(what, detail string) { r.line("FAIL", what, detail); r.total++; r.failed++ }

// skip reports something that was not checked; it counts neither way.
func (r *report) skip(what, detail string) { r.line("SKIP", what, detail) }

func (r *report) line(verdict, what, detail string) {
	fmt.Fprintf(r.w, "%s %s  %s\n", verdict, what, detail)
}

// flatten returns the errors joined in err (config.Load joins one
// *config.Error per problem).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func parsePorts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q is not a port", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkPorts binds every listener the server will open. All stay bound
// until the last check, so two listeners of the configuration that collide
// show up too.
func checkPorts(r *report, cfg *config.Config) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	bind := func(name, network, host string, port int) {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		label := fmt.Sprintf("%s %s %s", name, network, addr)
		var c io.Closer
		var err error
		if network == "udp" {
			c, err = net.ListenPacket("udp", addr)
		} else {
			c, err = net.Listen("tcp", addr)
		}
		if err != nil {
			r.fail("port", label+": "+bindError(err))
			return
		}
		held = append(held, c)
		if port == 0 {
			label += " (0: a free port is chosen at start)"
		}
		r.pass("port", label)
	}
	s := cfg.Server
	for _, t := range s.SIPTransports {
		bind("sip", strings.ToLower(t), s.EffectiveSIPHost(), s.SIPPort)
	}
	bind("rest", "tcp", s.EffectiveAPIHost(), s.RESTPort)
	if s.WebSocketPort == s.RESTPort && s.RESTPort != 0 {
		r.pass("port", fmt.Sprintf("websocket tcp %s: shares the rest listener",
			net.JoinHostPort(s.EffectiveAPIHost(), strconv.Itoa(s.WebSocketPort))))
	} else {
		bind("websocket", "tcp", s.EffectiveAPIHost(), s.WebSocketPort)
	}

	// RTP: a call needs one port of the range. Bind every port the server
	// would use (one at a time: no file descriptors pile up).
	min, max := cfg.Audio.RTPPorts.Min, cfg.Audio.RTPPorts.Max
	label := fmt.Sprintf("rtp udp %s:%d-%d", s.EffectiveSIPHost(), min, max)
	ports := rtpPorts(min, max)
	var free int
	var busy []int
	var lastErr error
	for _, p := range ports {
		c, err := net.ListenPacket("udp", net.JoinHostPort(s.EffectiveSIPHost(), strconv.Itoa(p)))
		if err != nil {
			busy, lastErr = append(busy, p), err
			continue
		}
		c.Close()
		free++
	}
	switch {
	case free == 0:
		r.fail("port", fmt.Sprintf("%s: none of the %d ports the server uses for RTP is free: %s", label, len(busy), bindError(lastErr)))
	case len(busy) > 0:
		r.pass("port", fmt.Sprintf("%s: %d of %d ports free, enough for %d calls at once (busy: %s)", label, free, len(ports), free, joinInts(firstN(busy, 10))))
	default:
		r.pass("port", fmt.Sprintf("%s: all %d ports free", label, free))
	}
}

// rtpPorts returns the ports of [min, max] the server opens for RTP
// (internal/rtp.Ports: even ports, or every port of a one-port range).
func rtpPorts(min, max int) []int {
	if max < min {
		return nil
	}
	first := min + min%2
	if first > max {
		first = min
	}
	step := 2
	if first == max || max-min < 1 {
		step = 1
	}
	var out []int
	for p := first; p <= max; p += step {
		out = append(out, p)
	}
	return out
}

// firstN returns at most n elements of s.
func firstN(s []int, n int) []int { return s[:min(len(s), n)] }

// bindError shortens a listen error to its cause, since the line already
// names the address.
func bindError(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err.Error()
		}
		return oe.Err.Error()
	}
	return err.Error()
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// checkState checks that the state file, if present, loads, and that its
// directory (or the nearest existing ancestor, which the server will
// create it in) is writable.
func checkState(r *report, path string) {
	if path == "" {
		r.pass("state", "no state file: registrations are not kept across restarts (set server.state_file)")
		return
	}
	if _, err := state.Load(path); err != nil {
		r.fail("state", err.Error())
		return
	}
	dir, created, err := writableDir(filepath.Dir(path))
	if err != nil {
		r.fail("state", fmt.Sprintf("%s: %v", path, err))
		return
	}
	if created {
		r.pass("state", fmt.Sprintf("%s: %s will be created", path, filepath.Dir(path)))
		return
	}
	r.pass("state", fmt.Sprintf("%s: %s writable", path, dir))
}

// checkLog checks that a log file can be appended to and, when it is
// missing or rotated, that its directory is writable.
func checkLog(r *report, l config.Logging) {
	switch strings.ToLower(l.Output) {
	case "", "stdout", "-":
		r.pass("log", "stdout")
		return
	case "stderr":
		r.pass("log", "stderr")
		return
	}
	path := l.Output
	detail := path
	if l.Rotation != "" {
		detail += fmt.Sprintf(" (rotation %q", l.Rotation)
		if l.Retention != "" {
			detail += fmt.Sprintf(", retention %q", l.Retention)
		}
		detail += ")"
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	switch {
	case err == nil:
		f.Close()
		if l.Rotation == "" {
			r.pass("log", detail+": writable")
			return
		}
	case !errors.Is(err, os.ErrNotExist):
		r.fail("log", fmt.Sprintf("%s: %v", detail, pathError(err)))
		return
	}
	// Missing, or rotated (renamed in its directory): the directory must
	// be writable.
	dir, created, err := writableDir(filepath.Dir(path))
	switch {
	case err != nil:
		r.fail("log", fmt.Sprintf("%s: %v", detail, err))
	case created:
		r.pass("log", fmt.Sprintf("%s: %s will be created", detail, filepath.Dir(path)))
	default:
		r.pass("log", fmt.Sprintf("%s: %s writable", detail, dir))
	}
}

// writableDir checks that a file can be created in dir, or, when dir does
// not exist, in its nearest existing ancestor (created reports that). It
// leaves nothing behind.
func writableDir(dir string) (existing string, created bool, err error) {
	existing = dir
	for {
		fi, err := os.Stat(existing)
		if err == nil {
			if !fi.IsDir() {
				return existing, created, fmt.Errorf("%s is not a directory", existing)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return existing, created, pathError(err)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return existing, created, pathError(err)
		}
		existing, created = parent, true
	}
	f, err := os.CreateTemp(existing, ".sipphone-check-*")
	if err != nil {
		return existing, created, fmt.Errorf("%s is not writable: %v", existing, pathError(err))
	}
	f.Close()
	os.Remove(f.Name())
	return existing, created, nil
}

// pathError drops the operation and path of a *fs.PathError, which the
// caller's message already names.
func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkAdapter sends SIP OPTIONS to every address of ht802.host on every
// adapter port. Prefixes cannot be probed and are skipped; hostnames are
// resolved.
func checkAdapter(ctx context.Context, r *report, entries []string, ports []int, timeout time.Duration) {
	for _, e := range entries {
		var addr netip.Addr
		if p, err := netip.ParsePrefix(e); err == nil {
			if !p.IsSingleIP() {
				r.skip("adapter", e+": a network prefix, not probed")
				continue
			}
			addr = p.Addr()
		} else if a, err := netip.ParseAddr(e); err == nil {
			addr = a
		} else {
			rctx, cancel := context.WithTimeout(ctx, timeout)
			ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", e)
			cancel()
			if err != nil || len(ips) == 0 {
				r.fail("adapter", fmt.Sprintf("%s: cannot resolve: %v", e, err))
				continue
			}
			addr = ips[0]
			for _, ip := range ips {
				if ip.Unmap().Is4() {
					addr = ip
					break
				}
			}
		}
		for _, port := range ports {
			ap := netip.AddrPortFrom(addr.Unmap(), uint16(port))
			name := ap.String()
			if addr.String() != e {
				name = e + " (" + name + ")"
			}
			res, err := probe(ctx, ap, timeout)
			if err != nil {
				r.fail("adapter", name+": "+err.Error())
				continue
			}
			detail := fmt.Sprintf("%s answered OPTIONS with %s in %.1f ms", name, res.status, float64(res.rtt)/float64(time.Millisecond))
			if res.sent > 1 {
				detail += fmt.Sprintf(" (after %d transmissions)", res.sent)
			}
			r.pass("adapter", detail)
		}
	}
}
