package app

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sip-phone-api/sipphone"
	"github.com/sip-phone-api/sipphone/internal/announce"
	"github.com/sip-phone-api/sipphone/internal/bot"
	"github.com/sip-phone-api/sipphone/internal/events"
	"github.com/sip-phone-api/sipphone/internal/line"
	"github.com/sip-phone-api/sipphone/internal/mqtt"
)

// mqttParts are the announcer (always) and the MQTT client (when mqtt.url
// is set).
type mqttParts struct {
	announcer *announce.Announcer
	client    *mqtt.Client
}

// startMQTT builds the announcer and, with mqtt.url set, starts the MQTT
// client (which connects in the background and never blocks) and adds
// its counters to /metrics. Call it after a.Metrics exists.
func (a *App) startMQTT() error {
	ac := a.cfg.Announce
	an, err := announce.New(announce.Config{AllowedURLHosts: ac.AllowedURLHosts, MaxDownloadBytes: int64(ac.MaxDownloadBytes),
		FetchTimeout: time.Duration(ac.FetchTimeout), Logger: a.log}, announceLines{a.Lines}, busEvents{a.Bus}, busPublisher{a.Bus})
	if err != nil {
		return err
	}
	a.mq.announcer = an
	mc := a.cfg.MQTT
	if mc.URL == "" {
		return nil
	}
	var tc *tls.Config
	if mc.CAFile != "" || mc.CertFile != "" {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
		if mc.CAFile != "" {
			pem, err := os.ReadFile(mc.CAFile)
			if err != nil {
				return fmt.Errorf("mqtt.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("mqtt.ca_file: %s holds no PEM certificate", mc.CAFile)
			}
		}
		if mc.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(mc.CertFile, mc.KeyFile)
			if err != nil {
				return fmt.Errorf("mqtt.cert_file, mqtt.key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	host, _ := os.Hostname()
	patterns := make([]string, 0, len(a.cfg.HT802.RingPatterns))
	for p := range a.cfg.HT802.RingPatterns {
		patterns = append(patterns, p)
	}
	slices.Sort(patterns)
	c, err := mqtt.New(mqtt.Config{URL: mc.URL, Username: mc.Username, Password: mc.Password, ClientID: mc.EffectiveClientID(host),
		TLS: tc, TopicPrefix: mc.TopicPrefix, Discovery: mc.Discovery, DiscoveryPrefix: mc.DiscoveryPrefix,
		Patterns: patterns, Version: a.version, Logger: a.log, Connector: mqttBots{a.Bots}}, mqttLines{a.Lines}, busEvents{a.Bus}, an)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if a.Metrics != nil {
		reg := a.Metrics.Registry()
		b2f := func(b bool) float64 {
			if b {
				return 1
			}
			return 0
		}
		for _, col := range []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sipphone_mqtt_connected", Help: "1 while connected to the MQTT broker."},
				func() float64 { return b2f(c.Connected()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sipphone_mqtt_reconnects_total", Help: "MQTT connections made after the first."},
				func() float64 { return float64(c.Reconnects()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sipphone_mqtt_messages_received_total", Help: "MQTT messages received."},
				func() float64 { return float64(c.MessagesIn()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sipphone_mqtt_messages_published_total", Help: "MQTT messages published."},
				func() float64 { return float64(c.MessagesOut()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sipphone_mqtt_messages_dropped_total", Help: "MQTT messages not published (broker away, queue full, publish failed)."},
				func() float64 { return float64(c.Dropped()) }),
		} {
			if err := reg.Register(col); err != nil {
				return fmt.Errorf("mqtt metrics: %w", err)
			}
		}
	}
	a.mq.client = c
	c.Start()
	return nil
}

// stopMQTT ends running announces and closes the MQTT client (publishing
// "offline").
func (a *App) stopMQTT() {
	if a.mq.announcer != nil {
		a.mq.announcer.Close()
	}
	if a.mq.client != nil {
		a.mq.client.Close()
	}
}

// Announcer runs POST /lines/{id}/announce (register it with
// announce.Register) and the MQTT announce command.
func (a *App) Announcer() *announce.Announcer { return a.mq.announcer }

// MQTTStats returns the MQTT connection's counters for /diagnostics, nil
// when MQTT is off.
func (a *App) MQTTStats() *mqtt.Stats {
	if a.mq.client == nil {
		return nil
	}
	s := a.mq.client.Stats()
	return &s
}

// busEvents subscribes to every event of the bus.
type busEvents struct{ bus *events.Bus }

func (b busEvents) Subscribe(n int) (<-chan *sipphone.Event, func()) {
	s, _ := b.bus.Subscribe(events.Filter{}, n, nil)
	return s.C(), s.Close
}

type busPublisher struct{ bus *events.Bus }

func (p busPublisher) Publish(e sipphone.Event) { p.bus.Publish(e) }

// mqttLines and announceLines adapt the line owner's ring options.
type mqttLines struct{ *line.Manager }

func (l mqttLines) Ring(id string, o mqtt.RingOptions) (string, string, error) {
	return l.Manager.Ring(id, sipphone.RingOptions(o))
}

type announceLines struct{ *line.Manager }

func (l announceLines) Ring(id string, o announce.RingOptions) (string, string, error) {
	return l.Manager.Ring(id, sipphone.RingOptions(o))
}

// mqttBots serves the connect/set command with the voice-bot bridges.
type mqttBots struct{ m *bot.Manager }

func (b mqttBots) Connect(lineID string, payload []byte) error {
	if b.m == nil {
		return fmt.Errorf("%w: voice bots are not running", sipphone.ErrInvalid)
	}
	var r bot.Request
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("%w: connect/set takes the JSON of POST /lines/{id}/connect: %v", sipphone.ErrInvalid, err)
	}
	_, err := b.m.Connect(lineID, r)
	return err
}

func (b mqttBots) Disconnect(lineID string) error {
	if b.m == nil {
		return fmt.Errorf("%w: voice bots are not running", sipphone.ErrInvalid)
	}
	_, err := b.m.Disconnect(lineID, "")
	return err
}
