// Package mqtttest runs a real Mosquitto broker on a free loopback port for
// tests, and a watcher client that records what is published.
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sip-phone-api/sipphone/internal/peers"
)

// Broker is a mosquitto process. It keeps nothing across restarts
// (persistence off), like a broker that lost its retained messages.
type Broker struct {
	t    testing.TB
	bin  string
	conf string
	Port int

	mu  sync.Mutex
	cmd *exec.Cmd
	out *strings.Builder
}

// Start starts mosquitto on a free 127.0.0.1 port and waits until it
// accepts connections. It is stopped when the test ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	bin := peers.Require(t, "mosquitto", "mosquitto")
	b := &Broker{t: t, bin: bin, Port: peers.FreeUDPPort(t)}
	b.conf = filepath.Join(t.TempDir(), "mosquitto.conf")
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", b.Port)
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(func() {
		b.Kill()
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", b.output())
		}
	})
	return b
}

// URL is the broker's mqtt:// URL.
func (b *Broker) URL() string { return "mqtt://127.0.0.1:" + strconv.Itoa(b.Port) }

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	b.out = &strings.Builder{}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &b.mu, b: b.out}, &lockedWriter{mu: &b.mu, b: b.out}
	err := cmd.Start()
	b.cmd = cmd
	b.mu.Unlock()
	if err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port)))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto did not accept connections on %d: %v\n%s", b.Port, err, b.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the broker abruptly (SIGKILL): clients see their connection
// drop.
func (b *Broker) Kill() {
	b.mu.Lock()
	cmd := b.cmd
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// Restart starts the broker again on the same port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Kill()
	b.start()
}

func (b *Broker) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out == nil {
		return ""
	}
	return b.out.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Message is one message a Watcher received.
type Message struct {
	Topic    string
	Payload  string
	Retained bool
	At       time.Time
}

// Watcher is a client subscribed to a filter that records every message.
type Watcher struct {
	t  testing.TB
	c  paho.Client
	mu sync.Mutex
	ms []Message
}

// Watch connects to b and subscribes to filter (e.g. "#"). It reconnects
// after a broker restart (resubscribing).
func Watch(t testing.TB, b *Broker, filter string) *Watcher {
	t.Helper()
	w := &Watcher{t: t}
	o := paho.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprintf("watch-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetCleanSession(true).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
				w.mu.Lock()
				w.ms = append(w.ms, Message{Topic: m.Topic(), Payload: string(m.Payload()), Retained: m.Retained(), At: time.Now()})
				w.mu.Unlock()
			}).WaitTimeout(5 * time.Second)
		})
	w.c = paho.NewClient(o)
	if tok := w.c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher cannot connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.c.Disconnect(100) })
	return w
}

// Publish publishes a message (QoS 1) and waits for the broker's ack.
func (w *Watcher) Publish(topic string, retained bool, payload string) {
	w.t.Helper()
	if tok := w.c.Publish(topic, 1, retained, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		w.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// Messages returns the messages received so far.
func (w *Watcher) Messages() []Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Message(nil), w.ms...)
}

// Mark returns a position: Wait with from = Mark() sees only later messages.
func (w *Watcher) Mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ms)
}

// Wait returns the first message at index >= from on topic for which ok
// holds (ok may be nil), failing the test after timeout.
func (w *Watcher) Wait(from int, topic string, timeout time.Duration, ok func(Message) bool) Message {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := w.Messages()
		for _, m := range ms[min(from, len(ms)):] {
			if m.Topic == topic && (ok == nil || ok(m)) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, m := range ms[min(from, len(ms)):] {
				if strings.HasPrefix(m.Topic, strings.SplitN(topic, "/", 2)[0]) {
					fmt.Fprintf(&b, "  %s %q retained=%v\n", m.Topic, m.Payload, m.Retained)
				}
			}
			w.t.Fatalf("no matching message on %s within %v; received:\n%s", topic, timeout, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Count returns how many messages at index >= from on topic satisfy ok.
func (w *Watcher) Count(from int, topic string, ok func(Message) bool) int {
	n := 0
	ms := w.Messages()
	for _, m := range ms[min(from, len(ms)):] {
		if m.Topic == topic && (ok == nil || ok(m)) {
			n++
		}
	}
	return n
}
