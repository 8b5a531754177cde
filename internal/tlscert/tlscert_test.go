package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelfSignedKeptAndServed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	hosts := []string{"localhost", "127.0.0.1", "phone-hub.lan"}
	c, err := SelfSigned(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Created || len(c.Fingerprint) != 32*3-1 {
		t.Fatalf("first call: %+v", c)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, err := SelfSigned(dir, hosts)
	if err != nil || again.Created || again.Fingerprint != c.Fingerprint {
		t.Fatalf("second call made a new certificate: %+v %v", again, err)
	}
	// A new address of the machine: a new certificate covering it.
	more, err := SelfSigned(dir, append(hosts, "192.0.2.7"))
	if err != nil || !more.Created || more.Fingerprint == c.Fingerprint || !strings.Contains(strings.Join(more.Names, " "), "192.0.2.7") {
		t.Fatalf("after a new address: %+v %v", more, err)
	}

	// A TLS client that trusts the file sees the same certificate.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = more.Config()
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pemData, _ := os.ReadFile(filepath.Join(dir, CertName))
	pool.AppendCertsFromPEM(pemData)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	conn, err := tls.Dial("tcp", "localhost:"+port, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("verifying the served certificate: %v", err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	if got := strings.ReplaceAll(more.Fingerprint, ":", ""); got != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Fatalf("fingerprint %s does not match the served certificate", more.Fingerprint)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key")); err == nil {
		t.Fatal("loading missing files succeeded")
	}
	c, err := SelfSigned(dir, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(filepath.Join(dir, CertName), filepath.Join(dir, KeyName))
	if err != nil || l.Fingerprint != c.Fingerprint {
		t.Fatalf("Load of the self-signed files: %+v %v", l, err)
	}
}

func TestHostsIncludesLoopback(t *testing.T) {
	h := strings.Join(Hosts(), " ")
	for _, want := range []string{"localhost", "127.0.0.1"} {
		if !strings.Contains(h, want) {
			t.Fatalf("Hosts() = %s, lacks %s", h, want)
		}
	}
}
