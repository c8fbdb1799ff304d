package entra_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// selfSigned returns a PEM bundle (certificate + PKCS#8 key) and the
// certificate alone, as an app registration would hold it.
func selfSigned(t *testing.T) (bundle []byte, certPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tapdesk graph"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return append([]byte(certPEM), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...), certPEM
}

func TestCertificateCredential(t *testing.T) {
	registered, registeredCert := selfSigned(t)
	stranger, _ := selfSigned(t)
	tenant := fakegraph.SampleTenant()
	tenant.ClientCertificates = []string{registeredCert}
	fake, err := fakegraph.NewServer(tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	client := func(bundle []byte) *entra.Client {
		c, err := entra.New(entra.Config{TenantID: tenant.ID, ClientID: tenant.ClientID, Certificate: bundle,
			GraphBaseURL: fake.URL(), AuthorityHost: fake.URL(), HTTPClient: fake.Client(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := client(registered).TAPPolicy(ctx(t)); err != nil {
		t.Fatalf("registered certificate: %v", err)
	}
	_, err = client(stranger).TAPPolicy(ctx(t))
	wantGraphError(t, err, tapdesk.GraphUnauthorized)

	if _, err := entra.New(entra.Config{TenantID: tenant.ID, ClientID: tenant.ClientID, Certificate: []byte("not a certificate")}); err == nil {
		t.Error("a garbage certificate was accepted")
	}
}
