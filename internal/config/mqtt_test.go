package config

import (
	"strings"
	"testing"
	"time"
)

func TestMQTTDefaultsAndEnv(t *testing.T) {
	c, err := Parse([]byte("mqtt: {password: hunter22}\n"), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.URL != "" || c.MQTT.TopicPrefix != "sipphone" || !c.MQTT.Discovery || c.MQTT.DiscoveryPrefix != "homeassistant" {
		t.Errorf("mqtt defaults %+v", c.MQTT)
	}
	if c.Announce.MaxDownloadBytes != 16<<20 || time.Duration(c.Announce.FetchTimeout) != 15*time.Second || c.Announce.AllowedURLHosts != nil {
		t.Errorf("announce defaults %+v", c.Announce)
	}
	if r := c.Redacted(); r.MQTT.Password != "***" || c.MQTT.Password != "hunter22" {
		t.Errorf("redacted password %q (original %q)", r.MQTT.Password, c.MQTT.Password)
	}
	env := map[string]string{"MQTT_URL": "mqtt://10.0.0.2:1883", "MQTT_USERNAME": "ha", "MQTT_PASSWORD": "pw"}
	if err := c.ApplyEnv(envMap(env)); err != nil {
		t.Fatal(err)
	}
	if c.MQTT.URL != "mqtt://10.0.0.2:1883" || c.MQTT.Username != "ha" || c.MQTT.Password != "pw" {
		t.Errorf("after env: %+v", c.MQTT)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	c.MQTT.URL = "http://x"
	if got := errorLines(c.Validate()); !strings.Contains(got, "mqtt.url") || !strings.Contains(got, "MQTT_URL") {
		t.Errorf("bad MQTT_URL: %q, want the key and the variable", got)
	}
	if got := c.MQTT.EffectiveClientID("home.lan"); got != "sipphone-homelan" {
		t.Errorf("client id %q", got)
	}
}

func TestMQTTValidation(t *testing.T) {
	for yml, want := range map[string]string{
		"mqtt: {url: \"ftp://broker\"}":                        `c.yml:1: mqtt.url: scheme "ftp"`,
		"mqtt: {url: \"mqtt://\"}":                             "mqtt.url: \"mqtt://\" names no broker host",
		"mqtt: {url: \"mqtt://u:p@broker\"}":                   "mqtt.url: put the user name",
		"mqtt: {url: \"mqtt://broker:99999\"}":                 "mqtt.url: \"99999\" is not a port",
		"mqtt: {topic_prefix: \"a/#\"}":                        "mqtt.topic_prefix: \"a/#\" may not contain",
		"mqtt: {discovery_prefix: \"\"}":                       "mqtt.discovery_prefix: required",
		"mqtt: {topic_prefix: \"/sip\"}":                       "mqtt.topic_prefix: \"/sip\" may not start",
		"mqtt: {cert_file: c.pem}":                             "mqtt.key_file: required with mqtt.cert_file",
		"mqtt: {url_: x}":                                      "mqtt.url_: unknown key",
		"announce: {allowed_url_hosts: [\"bad host\"]}":        "announce.allowed_url_hosts[0]: \"bad host\" is not a hostname",
		"announce: {max_download_bytes: 10}":                   "announce.max_download_bytes: 10 is out of range",
		"announce: {fetch_timeout: 10m}":                       "announce.fetch_timeout: 10m is out of range",
		"announce:\n  allowed_url_hosts: [ok.lan, 10.0.0.0/8]": "",
	} {
		_, err := Parse([]byte(yml), "c.yml")
		got := errorLines(err)
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", yml, err)
			}
			continue
		}
		if !strings.Contains(got, want) {
			t.Errorf("%s:\n got %q\nwant it to contain %q", yml, got, want)
		}
	}
}
