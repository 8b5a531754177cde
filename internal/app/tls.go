package app

import (
	"crypto/tls"
	"fmt"
	"path/filepath"

	"github.com/sip-phone-api/sipphone/internal/tlscert"
)

// listenTLS wraps the HTTP listeners in TLS when server.tls is set: with the
// configured certificate, or a self-signed one kept next to the state file
// whose fingerprint is logged, so a user can check what the browser shows.
func (a *App) listenTLS() error {
	t := a.cfg.Server.TLS
	if !t.Enabled() {
		return nil
	}
	var (
		c   *tlscert.Cert
		err error
	)
	if t.SelfSigned {
		dir := filepath.Dir(a.cfg.Server.StateFile)
		if c, err = tlscert.SelfSigned(dir, tlscert.Hosts()); err != nil {
			return fmt.Errorf("server.tls.self_signed: certificate in %s: %w", dir, err)
		}
		a.log.Info("HTTPS with a self-signed certificate: check this fingerprint when the browser asks",
			"sha256", c.Fingerprint, "names", c.Names, "file", filepath.Join(dir, tlscert.CertName), "created", c.Created)
	} else {
		if c, err = tlscert.Load(t.CertFile, t.KeyFile); err != nil {
			return fmt.Errorf("server.tls.cert_file: %w", err)
		}
		a.log.Info("HTTPS", "sha256", c.Fingerprint, "names", c.Names)
	}
	cfg := c.Config()
	a.restLn = tls.NewListener(a.restLn, cfg)
	if a.wsLn != nil {
		a.wsLn = tls.NewListener(a.wsLn, cfg)
	}
	return nil
}

// scheme returns the URL scheme of the HTTP listeners.
func (a *App) scheme() string {
	if a.cfg.Server.TLS.Enabled() {
		return "https"
	}
	return "http"
}
