// Package tlscert provides the certificates of the HTTPS listeners: a
// certificate and key given in files, or a self-signed ECDSA certificate
// made once for the machine's host names and addresses and kept on disk, so
// that a browser's exception for it survives restarts.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names of the self-signed certificate and key in their directory.
const (
	CertName = "tls-cert.pem"
	KeyName  = "tls-key.pem"
)

// validity of a new self-signed certificate; one expiring within renewBefore
// (or not covering the machine's current names) is replaced.
const (
	validity    = 2 * 365 * 24 * time.Hour
	renewBefore = 30 * 24 * time.Hour
)

// Cert is a loaded certificate with what the start-up log shows of it.
type Cert struct {
	TLS tls.Certificate
	// Fingerprint is the SHA-256 of the leaf certificate (DER), as
	// colon-separated upper-case hex, the way browsers show it.
	Fingerprint string
	// Names are the DNS names and IP addresses it is valid for.
	Names []string
	// Created reports that a self-signed certificate was made just now.
	Created bool
}

// Config returns a server TLS configuration serving c.
func (c *Cert) Config() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
}

// Load reads a PEM certificate chain and its private key.
func Load(certFile, keyFile string) (*Cert, error) {
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return describe(kp, false)
}

// SelfSigned returns the self-signed certificate kept in dir, making a new
// one when there is none, it expires within 30 days, or it does not cover
// every name in hosts (see [Hosts]).
func SelfSigned(dir string, hosts []string) (*Cert, error) {
	certPath, keyPath := filepath.Join(dir, CertName), filepath.Join(dir, KeyName)
	if kp, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if c, err := describe(kp, false); err == nil && covers(kp.Leaf, hosts) && time.Until(kp.Leaf.NotAfter) > renewBefore {
			return c, nil
		}
	}
	certPEM, keyPEM, err := generate(hosts, time.Now())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return describe(kp, true)
}

// writeFile writes through a temporary file and a rename, so a crash never
// leaves half a key.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Hosts returns the names a self-signed certificate should cover:
// localhost, the host name (also with .local for mDNS) and every address of
// the machine's interfaces.
func Hosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
		if !strings.Contains(h, ".") {
			hosts = append(hosts, h+".local")
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

func generate(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sipphone", Organization: []string{"sipphone (self-signed)"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// A CA flag lets a user install the file as a trusted root on a
		// phone or desktop; it can sign nothing else (MaxPathLenZero).
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// covers reports whether cert is valid for every host.
func covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func describe(kp tls.Certificate, created bool) (*Cert, error) {
	if len(kp.Certificate) == 0 {
		return nil, errors.New("no certificate in the file")
	}
	leaf := kp.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(kp.Certificate[0]); err != nil {
			return nil, err
		}
		kp.Leaf = leaf
	}
	c := &Cert{TLS: kp, Fingerprint: Fingerprint(kp.Certificate[0]), Created: created}
	c.Names = append(c.Names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		c.Names = append(c.Names, ip.String())
	}
	if time.Now().After(leaf.NotAfter) {
		return c, fmt.Errorf("the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	return c, nil
}

// Fingerprint returns the SHA-256 of a DER certificate as AA:BB:... hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
