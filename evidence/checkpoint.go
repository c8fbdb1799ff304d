package evidence

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// CheckpointFormat marks a published checkpoint and the version of what
// its signature covers.
const CheckpointFormat = "tapdesk-audit-checkpoint-v1"

// Checkpoint is a signed statement that the audit trail's event Seq
// carried MAC at Time. Published outside the database (a log, an
// append-only file, a webhook), it lets a later verify prove that no event
// up to Seq was rewritten and none were cut off the end.
type Checkpoint struct {
	Format    string `json:"format"`
	Seq       int64  `json:"seq"`
	MAC       string `json:"mac"`
	Time      string `json:"time"` // RFC 3339, UTC
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"` // base64 Ed25519 over signedBytes
}

// signedBytes is exactly what the signature covers: the format, the seq,
// the mac and the time, one per line, so nothing else in the JSON (its
// spacing, its field order) changes the answer.
func (c Checkpoint) signedBytes() []byte {
	return []byte(CheckpointFormat + "\nseq " + strconv.FormatInt(c.Seq, 10) + "\nmac " + c.MAC + "\ntime " + c.Time + "\n")
}

// SignCheckpoint signs the head seq:mac as of at.
func (s *Signer) SignCheckpoint(seq int64, mac string, at time.Time) Checkpoint {
	c := Checkpoint{Format: CheckpointFormat, Seq: seq, MAC: mac, Time: at.UTC().Format(time.RFC3339Nano), KeyID: s.KeyID()}
	c.Signature = s.sign(c.signedBytes())
	return c
}

// Line is the checkpoint as one JSON line (no newline), as the file, the
// webhook and the database hold it.
func (c Checkpoint) Line() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // strings and an int always marshal
	}
	return b
}

// At is the checkpoint's time.
func (c Checkpoint) At() (time.Time, error) { return time.Parse(time.RFC3339Nano, c.Time) }

// Verify checks the checkpoint's shape and its signature with pub, and
// says in a sentence what does not hold.
func (c Checkpoint) Verify(pub ed25519.PublicKey) error {
	if c.Format != CheckpointFormat {
		return fmt.Errorf("it is not a tapdesk checkpoint (format %q, want %q)", c.Format, CheckpointFormat)
	}
	if c.Seq < 1 || len(c.MAC) != 64 {
		return fmt.Errorf("it names no event (seq %d, mac %q)", c.Seq, c.MAC)
	}
	if _, err := c.At(); err != nil {
		return fmt.Errorf("its time %q is not RFC 3339", c.Time)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.signedBytes(), sig) {
		if c.KeyID != KeyID(pub) {
			return fmt.Errorf("its signature does not check out: it names key %s, and the public key given is %s", c.KeyID, KeyID(pub))
		}
		return fmt.Errorf("its signature does not check out with the public key: it was forged or altered")
	}
	return nil
}

// ParseCheckpoint reads one checkpoint line. Fields it does not know are
// refused: what a checkpoint says is exactly what its signature covers.
func ParseCheckpoint(line []byte) (Checkpoint, error) {
	var c Checkpoint
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("not a checkpoint: %v", err)
	}
	return c, nil
}

// ReadCheckpoints reads a checkpoint file (JSON Lines, as the file
// destination writes it), skipping blank lines.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	var out []Checkpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		c, err := ParseCheckpoint(line)
		if err != nil {
			return out, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}
