package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/freeport"
)

// TestNginxAcceptsTheSample runs `nginx -t` on the sample, inside an http
// block as the comment at its top says, with a self-signed certificate in
// place of the real one. CI installs Debian's nginx (1.22, the oldest the
// sample is for); elsewhere the test needs nginx on PATH or in /usr/sbin.
func TestNginxAcceptsTheSample(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			nginx, err = "/usr/sbin/nginx", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is not installed: CI installs it (apt-get install nginx-light)")
		}
		t.Skip("nginx is not installed")
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	writeSelfSigned(t, cert, key)
	sample := read(t, "nginx.conf")
	sample = strings.ReplaceAll(sample, "/etc/ssl/tapdesk/fullchain.pem", cert)
	sample = strings.ReplaceAll(sample, "/etc/ssl/tapdesk/privkey.pem", key)
	// nginx -t binds the listen addresses: free loopback ports instead of
	// 80 and 443 (and no IPv6, which a CI container may lack), keeping the
	// parameters (ssl, http2) under test.
	sample = regexp.MustCompile(`listen (\[::\]:)?(80|443)\b`).ReplaceAllStringFunc(sample, func(string) string {
		return "listen 127.0.0.1:" + freePort(t)
	})
	conf := "pid " + filepath.Join(dir, "nginx.pid") + ";\n" +
		"error_log " + filepath.Join(dir, "error.log") + ";\n" +
		"events {}\n" +
		"http {\n" +
		"access_log " + filepath.Join(dir, "access.log") + ";\n" +
		"client_body_temp_path " + filepath.Join(dir, "body") + ";\n" +
		"proxy_temp_path " + filepath.Join(dir, "proxy") + ";\n" +
		sample + "\n}\n"
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t refuses the sample: %v\n%s", err, out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeport.MustAddr(t))
	return port
}

func writeSelfSigned(t *testing.T, certPath, keyPath string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tapdesk.contoso.com"},
		DNSNames:     []string{"tapdesk.contoso.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}
