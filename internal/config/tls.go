package config

import "strings"

// TLS makes the REST and WebSocket listeners speak HTTPS, which browsers
// require before they give a page the microphone (anywhere but localhost).
// Either CertFile and KeyFile name a certificate and its key (PEM), or
// SelfSigned makes one, kept next to the state file, for the machine's
// host names and addresses.
type TLS struct {
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	SelfSigned bool   `yaml:"self_signed"`
}

// Enabled reports whether the listeners serve TLS.
func (t TLS) Enabled() bool { return t.SelfSigned || t.CertFile != "" || t.KeyFile != "" }

func (v *validator) tls() {
	t := v.c.Server.TLS
	switch {
	case t.SelfSigned && (t.CertFile != "" || t.KeyFile != ""):
		v.add("server.tls.self_signed", "cannot be combined with cert_file/key_file: use either your own certificate or a self-signed one")
	case t.CertFile != "" && t.KeyFile == "":
		v.add("server.tls.key_file", "required with server.tls.cert_file (the certificate's private key, PEM)")
	case t.KeyFile != "" && t.CertFile == "":
		v.add("server.tls.cert_file", "required with server.tls.key_file (the certificate chain, PEM)")
	}
	for _, f := range []struct{ key, path string }{{"server.tls.cert_file", t.CertFile}, {"server.tls.key_file", t.KeyFile}} {
		if strings.HasSuffix(f.path, "/") || strings.ContainsRune(f.path, 0) {
			v.add(f.key, "%q is not a file path", f.path)
		}
	}
	if t.SelfSigned && v.c.Server.StateFile == "" {
		v.add("server.tls.self_signed", "needs server.state_file: the certificate is kept in its directory")
	}
}
