// Package evidence makes the audit trail provable outside tapdesk's
// database: signed checkpoints of the chain's head, published where the
// database's owner cannot rewrite them, and per-request evidence packs
// that anyone holding the public key checks offline. The formats and
// their Ed25519 signatures live here; the store only reads and writes rows.
package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Signer signs checkpoints and packs with the installation's Ed25519 key
// (TAPDESK_AUDIT_SIGNING_KEY).
type Signer struct {
	key ed25519.PrivateKey
}

// ParsePrivateKey reads an Ed25519 private key in PKCS#8 PEM, as
// `openssl genpkey -algorithm ed25519` writes it.
func ParsePrivateKey(text string) (*Signer, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("not a PEM key: give an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----), e.g. from openssl genpkey -algorithm ed25519")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("a PEM %q, not a PKCS#8 private key (-----BEGIN PRIVATE KEY-----)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a readable PKCS#8 key: %v", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, not Ed25519: generate one with openssl genpkey -algorithm ed25519", k)
	}
	return &Signer{key: ek}, nil
}

// NewSigner wraps a key (tests and the demo).
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key} }

// PrivateKeyPEM encodes a key as PKCS#8 PEM, the form ParsePrivateKey reads.
func PrivateKeyPEM(key ed25519.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // an ed25519 key always marshals
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Public is the key that checks what s signed.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID names the key in what it signed, so a checker holding another key
// is told so rather than "forged".
func (s *Signer) KeyID() string { return KeyID(s.Public()) }

func (s *Signer) sign(msg []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, msg))
}

// KeyID is the key's fingerprint, written as OpenSSH writes them:
// SHA256: and the unpadded base64 of the SHA-256 of the raw public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// PublicKeyPEM encodes the public key as PKIX PEM (-----BEGIN PUBLIC
// KEY-----), as `tapdesk audit public-key` and `openssl pkey -pubout`
// print it.
func PublicKeyPEM(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ed25519 key always marshals
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// ParsePublicKey reads an Ed25519 public key: PKIX PEM, or the base64 of
// its DER on one line (the PEM's body).
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	text = strings.TrimSpace(text)
	var der []byte
	if block, _ := pem.Decode([]byte(text)); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("a PEM %q, not a public key (-----BEGIN PUBLIC KEY-----)", block.Type)
		}
		der = block.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return nil, errors.New("not a public key: give the PEM that tapdesk audit public-key prints (-----BEGIN PUBLIC KEY-----), or a file holding it")
		}
		der = b
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("not a readable public key: %v", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, not Ed25519", k)
	}
	return pub, nil
}
