package sim

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const cliHelp = `commands (LINE is 1 or 2, default 1):
  offhook [LINE]                 lift the handset: INVITE to the auto-dial number
  dial NUMBER [LINE]             lift and dial NUMBER (as sent after '#')
  onhook [LINE]                  put the handset down: BYE or CANCEL
  answer [LINE]                  lift the handset while it rings
  digits KEYS [LINE]             press keys 0-9 * # A-D (F or ! = hook flash)
  flash [LINE]                   hook flash
  tone FREQ [DBM0] [LINE]        send a sine (default -10 dBm0); 0 = silence
  silence [LINE]                 send silence
  play FILE.wav [LINE]           send an 8 kHz WAV file, then silence
  answer-mode MODE [DELAY] [LINE] auto, never, busy or reject
  register [LINE] | unregister [LINE]
  status                         show the lines
  wait DURATION                  pause (scripts), e.g. wait 1s
  waitfor EVENT [TIMEOUT]        wait for the next EVENT not yet waited for, e.g. waitfor ringing 30s
  help | quit`

// registerWait bounds the first registration, so that a wrong --server is
// told at once instead of after SIP's 32 s transaction timeout.
const registerWait = 5 * time.Second

// RunCLI runs "sipphone sim": a simulated HT802 driven by a script
// (--script "offhook; wait 1s; digits 123; onhook") or by commands read
// from stdin, one per line. Events are printed to stdout, one line each.
// It returns when the script ends, stdin ends, "quit" is read, or ctx is
// cancelled.
func RunCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "SIP server `HOST:PORT` (required)")
	transport := fs.String("transport", "udp", "udp or tcp")
	local := fs.String("local", "127.0.0.1", "local IP to bind")
	users := fs.String("user", "phone1", "SIP User ID per line, comma separated (phone1,phone2 = two lines)")
	password := fs.String("password", "", "password (one for all lines, or comma separated)")
	authUser := fs.String("auth-user", "", "Authenticate ID (default the user; one or comma separated)")
	names := fs.String("name", "", "caller ID display name (one or comma separated)")
	autoDial := fs.String("auto-dial", DefaultAutoDial, "Offhook Auto-Dial number")
	dtmf := fs.String("dtmf", string(DTMFRFC2833), "DTMF method: rfc2833, info or inband")
	answer := fs.String("answer", "auto", "answer mode: auto, never, busy or reject")
	answerDelay := fs.Duration("answer-delay", 2*time.Second, "delay of auto-answer and reject")
	expires := fs.Duration("expires", DefaultExpires, "registration expiry")
	noRegister := fs.Bool("no-register", false, "do not register (SIP Registration: No)")
	script := fs.String("script", "", "commands separated by ';' instead of stdin")
	verbose := fs.Bool("v", false, "log SIP activity to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sipphone sim --server HOST:PORT [flags]\n\nA simulated HT802: registers its lines and is driven by commands, from --script or typed.\n\nflags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\n"+cliHelp)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage, with the commands, was printed
		}
		return err
	}
	if *server == "" {
		fs.Usage()
		return errors.New("sim: --server is required")
	}
	mode, err := ParseAnswerMode(*answer)
	if err != nil {
		return fmt.Errorf("sim: --answer: %w", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := Config{
		Server: *server, Transport: *transport, Local: *local, AutoDial: *autoDial,
		Expires: *expires, NoRegister: *noRegister,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	userList := splitList(*users)
	for i, u := range userList {
		cfg.Lines = append(cfg.Lines, LineConfig{
			User:        u,
			AuthUser:    pick(splitList(*authUser), i),
			Password:    pick(splitList(*password), i),
			DisplayName: pick(splitList(*names), i),
			DTMF:        DTMFMethod(*dtmf),
			Answer:      mode,
			AnswerDelay: *answerDelay,
		})
	}
	p, err := New(cfg)
	if err != nil {
		return err
	}
	c := &cli{p: p, out: &lockedWriter{w: stdout}, changed: make(chan struct{})}
	var printer sync.WaitGroup
	printer.Add(1)
	go func() {
		defer printer.Done()
		for ev := range p.Events() {
			c.out.println(formatEvent(ev))
			c.notify(ev)
		}
	}()
	defer func() {
		_ = p.Close() // ends pending calls and closes Events
		c.bg.Wait()
		printer.Wait()
	}()

	sctx, cancel := context.WithTimeout(ctx, registerWait)
	err = p.Start(sctx)
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out") {
			err = fmt.Errorf("%w\nno answer from the SIP server at %s within %v: is sipphone running there and is --server right? (on the server, `sipphone check` tests the setup)", err, *server, registerWait)
		}
		if *script != "" {
			return err
		}
		c.out.println("warning: " + err.Error() + " (retrying in the background)")
	}
	for i := range p.lines {
		c.out.println(fmt.Sprintf("line %d: user %s at sip:%s (server %s, %s)", i+1, p.lines[i].cfg.User, p.ContactAddr(i), *server, *transport))
	}

	if *script != "" {
		c.sync = true
		for _, cmd := range strings.Split(*script, ";") {
			quit, err := c.exec(ctx, cmd)
			if err != nil {
				return fmt.Errorf("sim: %q: %w", strings.TrimSpace(cmd), err)
			}
			if quit {
				break
			}
		}
		return nil
	}

	c.out.println(`type "help" for commands`)
	lines := make(chan string)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case text, ok := <-lines:
			if !ok {
				return nil
			}
			quit, err := c.exec(ctx, text)
			if err != nil {
				c.out.println("error: " + err.Error())
			}
			if quit {
				return nil
			}
		}
	}
}

// cli executes commands on a phone.
type cli struct {
	p    *Phone
	out  *lockedWriter
	sync bool           // run call commands to completion (scripts)
	bg   sync.WaitGroup // call commands run in the background (interactive)

	mu      sync.Mutex    // guards pending and changed
	pending []Event       // events not yet consumed by waitfor, oldest first
	changed chan struct{} // closed and replaced when an event arrives
}

// maxPending bounds the events kept for waitfor.
const maxPending = 1000

// notify records ev for waitfor.
func (c *cli) notify(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == maxPending {
		c.pending = c.pending[1:]
	}
	c.pending = append(c.pending, ev)
	close(c.changed)
	c.changed = make(chan struct{})
}

// next consumes the events up to the first of type typ; it returns a
// channel that is closed when more events arrive if there is none yet.
func (c *cli) next(typ string) (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ev := range c.pending {
		if ev.Type == typ {
			c.pending = c.pending[i+1:]
			return true, nil
		}
	}
	return false, c.changed
}

// exec runs one command line; it reports whether to quit.
func (c *cli) exec(ctx context.Context, text string) (quit bool, err error) {
	f := strings.Fields(text)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return false, nil
	}
	cmd, args := strings.ToLower(f[0]), f[1:]
	switch cmd {
	case "quit", "exit":
		return true, nil
	case "help", "?":
		c.out.println(cliHelp)
		return false, nil
	case "status":
		c.status()
		return false, nil
	case "wait", "sleep":
		if len(args) != 1 {
			return false, errors.New("usage: wait DURATION")
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return false, fmt.Errorf("wait: %w", err)
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return false, nil
	case "waitfor":
		return false, c.waitFor(ctx, args)
	}

	lineArg := func(rest []string) (int, error) {
		switch len(rest) {
		case 0:
			return 0, nil
		case 1:
			n, err := strconv.Atoi(rest[0])
			if err != nil || n < 1 || n > len(c.p.lines) {
				return 0, fmt.Errorf("bad line %q: want 1..%d", rest[0], len(c.p.lines))
			}
			return n - 1, nil
		}
		return 0, fmt.Errorf("too many arguments for %s", cmd)
	}

	switch cmd {
	case "offhook", "onhook", "answer", "flash", "silence", "register", "unregister":
		ln, err := lineArg(args)
		if err != nil {
			return false, err
		}
		switch cmd {
		case "offhook":
			c.call(ctx, ln, "offhook", func(ctx context.Context) error { return c.p.OffHook(ctx, ln) })
		case "answer":
			c.call(ctx, ln, "answer", func(ctx context.Context) error { return c.p.Answer(ctx, ln) })
		case "onhook":
			if err := c.p.OnHook(ctx, ln); err != nil {
				return false, err
			}
			c.out.println(fmt.Sprintf("line %d: on hook", ln+1))
		case "flash":
			return false, c.p.SendDigits(ctx, ln, "!")
		case "silence":
			c.p.PlayTone(ln, 0, 0)
		case "register":
			return false, c.p.Register(ctx, ln)
		case "unregister":
			return false, c.p.Unregister(ctx, ln)
		}
		return false, nil
	case "dial", "digits":
		if len(args) < 1 {
			return false, fmt.Errorf("usage: %s KEYS [LINE]", cmd)
		}
		ln, err := lineArg(args[1:])
		if err != nil {
			return false, err
		}
		if cmd == "digits" {
			return false, c.p.SendDigits(ctx, ln, args[0])
		}
		number := args[0]
		c.call(ctx, ln, "dial", func(ctx context.Context) error { return c.p.Dial(ctx, ln, number) })
		return false, nil
	case "play":
		if len(args) < 1 {
			return false, errors.New("usage: play FILE.wav [LINE]")
		}
		ln, err := lineArg(args[1:])
		if err != nil {
			return false, err
		}
		f, err := os.Open(args[0])
		if err != nil {
			return false, err
		}
		defer f.Close()
		return false, c.p.PlayWAV(ln, bufio.NewReader(f))
	case "tone":
		if len(args) < 1 || len(args) > 3 {
			return false, errors.New("usage: tone FREQ [DBM0] [LINE]")
		}
		freq, err := strconv.ParseFloat(args[0], 64)
		if err != nil || freq < 0 || freq >= sampleRate/2 {
			return false, fmt.Errorf("bad frequency %q", args[0])
		}
		level := -10.0
		if len(args) >= 2 {
			if level, err = strconv.ParseFloat(args[1], 64); err != nil || level > 3.17 {
				return false, fmt.Errorf("bad level %q: want dBm0 <= 3.17", args[1])
			}
		}
		ln, err := lineArg(args[min(2, len(args)):])
		if err != nil {
			return false, err
		}
		c.p.PlayTone(ln, freq, level)
		return false, nil
	case "answer-mode":
		if len(args) < 1 {
			return false, errors.New("usage: answer-mode MODE [DELAY] [LINE]")
		}
		mode, err := ParseAnswerMode(args[0])
		if err != nil {
			return false, err
		}
		rest := args[1:]
		var delay time.Duration
		if len(rest) > 0 {
			if d, err := time.ParseDuration(rest[0]); err == nil {
				delay, rest = d, rest[1:]
			}
		}
		ln, err := lineArg(rest)
		if err != nil {
			return false, err
		}
		c.p.SetAnswer(ln, mode, delay)
		msg := fmt.Sprintf("line %d: answer mode %s", ln+1, args[0])
		if delay > 0 {
			msg += " after " + delay.String()
		}
		c.out.println(msg)
		return false, nil
	}
	return false, fmt.Errorf("unknown command %q (type help)", cmd)
}

// call runs a call command: to completion in scripts, in the background
// interactively so that onhook can still be typed while it rings out.
func (c *cli) call(ctx context.Context, ln int, name string, f func(context.Context) error) {
	run := func() {
		if err := f(ctx); err != nil {
			c.out.println(fmt.Sprintf("line %d: %s: %v", ln+1, name, err))
		}
	}
	if c.sync {
		run()
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		run()
	}()
}

func (c *cli) waitFor(ctx context.Context, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: waitfor EVENT [TIMEOUT]")
	}
	timeout := 30 * time.Second
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		if err != nil {
			return fmt.Errorf("waitfor: %w", err)
		}
		timeout = d
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		found, changed := c.next(args[0])
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return fmt.Errorf("no %s event within %s", args[0], timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *cli) status() {
	for i, l := range c.p.lines {
		l.mu.Lock()
		mode, delay := l.mode, l.delay
		l.mu.Unlock()
		rx := c.p.Received(i)
		c.out.println(fmt.Sprintf("line %d: %s %s, dtmf %s, answer %s after %s; last call: codec %s, sent %d, received %d packets (types %v)",
			i+1, l.cfg.User, c.p.State(i), l.cfg.DTMF, mode, delay, orDash(rx.Codec), rx.Sent, rx.Packets, rx.PayloadTypes))
	}
}

// formatEvent renders an event as one human line, lines numbered from 1.
func formatEvent(ev Event) string {
	prefix := fmt.Sprintf("line %d: ", ev.Line+1)
	switch ev.Type {
	case EventRinging:
		s := prefix + "ringing: call from "
		if ev.CallerName != "" {
			s += strconv.Quote(ev.CallerName) + " "
		}
		s += "<" + ev.CallerNumber + ">"
		if ev.AlertInfo != "" {
			s += " (Alert-Info: " + ev.AlertInfo + ")"
		}
		return s
	case EventRegistrationFailed:
		if ev.Status == 0 {
			return prefix + "registration failed (no answer)"
		}
		return fmt.Sprintf("%sregistration failed (%d)", prefix, ev.Status)
	case EventCallFailed:
		return fmt.Sprintf("%scall failed (%d)", prefix, ev.Status)
	case EventRingback:
		return fmt.Sprintf("%sringback (%d)", prefix, ev.Status)
	case EventHangupByServer:
		return prefix + "hung up by server (reorder tone until onhook)"
	case EventCancelled:
		return prefix + "caller cancelled"
	case EventRingTimeout:
		return prefix + "ring timeout (480 sent)"
	}
	return prefix + strings.ReplaceAll(ev.Type, "_", " ")
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// pick returns the i-th value, the only value for every i, or "".
func pick(vals []string, i int) string {
	switch {
	case len(vals) == 1:
		return vals[0]
	case i < len(vals):
		return vals[i]
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lockedWriter serialises lines written by the event printer and commands.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) println(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = io.WriteString(w.w, s+"\n")
}
