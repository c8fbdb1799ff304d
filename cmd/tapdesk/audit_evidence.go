package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/store"
)

// The audit commands of the evidence slice: public-key, evidence,
// check-evidence, and verify's --checkpoints.

// splitArgs separates the positional arguments from the flags, which may
// come after them (tapdesk audit evidence ID --out FILE): flag stops at
// the first positional one.
func splitArgs(args []string) (positional, flags []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		// A flag without "=" takes the next argument as its value
		// (every flag of these commands takes one).
		if !strings.Contains(a, "=") && i+1 < len(args) && a != "-h" && a != "--help" && a != "-help" {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return positional, flags
}

// readPublicKey reads --public-key: a file holding the PEM, or the PEM.
func readPublicKey(v string) (ed25519.PublicKey, error) {
	text := v
	if !strings.Contains(v, "-----BEGIN") {
		if b, err := os.ReadFile(v); err == nil {
			text = string(b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return evidence.ParsePublicKey(text)
}

// auditPublicKey prints the public key of TAPDESK_AUDIT_SIGNING_KEY, for
// auditors to keep and to give check-evidence and verify --checkpoints.
func auditPublicKey(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("audit public-key")
	s.fs.SetOutput(stderr)
	s.secret("audit-signing-key", "the Ed25519 private key (PKCS#8 PEM) that signs checkpoints and evidence packs", true)
	problems, err := s.load(args, getenv)
	if err != nil {
		return err
	}
	var signer *evidence.Signer
	if len(problems) == 0 {
		if signer, err = evidence.ParsePrivateKey(s.get("audit-signing-key")); err != nil {
			problems = append(problems, "TAPDESK_AUDIT_SIGNING_KEY: "+err.Error())
		}
	}
	if len(problems) > 0 {
		return &configError{problems}
	}
	fmt.Fprint(stdout, evidence.PublicKeyPEM(signer.Public()))
	fmt.Fprintf(stderr, "key id %s: keep this public key where the auditors keep evidence; check-evidence and verify --checkpoints take it (--public-key FILE)\n", signer.KeyID())
	return nil
}

// auditEvidence writes a request's signed evidence pack.
func auditEvidence(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := auditSettings("evidence", stderr)
	evidenceSettings(s)
	out := s.fs.String("out", "", "write the pack to this file instead of standard output")
	positional, flags := splitArgs(args)
	var cfg evidence.PublisherConfig
	db, err := openAudit(ctx, s, flags, getenv, func(problems *[]string) {
		if len(positional) != 1 {
			*problems = append(*problems, "name one request: tapdesk audit evidence REQUEST_ID [--out FILE]")
		}
		cfg = evidenceConfig(s, problems)
		if s.get("audit-signing-key") == "" {
			*problems = append(*problems, "TAPDESK_AUDIT_SIGNING_KEY (or _FILE) is not set: evidence packs are signed with it")
		}
	})
	if err != nil {
		return err
	}
	defer db.Close()
	id := positional[0]
	r, err := db.Request(ctx, id)
	if tapdesk.ErrorCode(err) == tapdesk.ENOTFOUND {
		return fmt.Errorf("tapdesk audit evidence: there is no request %s", id)
	}
	if err != nil {
		return err
	}
	actor := cliActor("evidence")
	pub := evidence.NewPublisher(db, cfg)
	pack, err := pub.Pack(ctx, r, actor.Name)
	if err != nil {
		return fmt.Errorf("tapdesk audit evidence: %w", err)
	}
	sum := sha256.Sum256(pack)
	if err := db.AppendEvent(ctx, tapdesk.Event{Activity: tapdesk.ActEvidenceExported, Category: tapdesk.CatAudit, Actor: actor,
		Details: map[string]string{"sha256": hex.EncodeToString(sum[:]), "bytes": strconv.Itoa(len(pack)), "via": "cli"}}.ForRequest(r)); err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(pack)
		return err
	}
	if err := os.WriteFile(*out, pack, 0o600); err != nil {
		return fmt.Errorf("tapdesk audit evidence: %w", err)
	}
	fmt.Fprintf(stderr, "wrote the evidence pack of request %s to %s\n", id, *out)
	return nil
}

// auditCheckEvidence verifies a pack offline: no database, no audit key.
func auditCheckEvidence(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s := newSettings("audit check-evidence")
	s.fs.SetOutput(stderr)
	keyFlag := s.fs.String("public-key", "", "the public key tapdesk audit public-key printed: a file holding it, or the PEM itself [required]")
	positional, flags := splitArgs(args)
	problems, err := s.load(flags, getenv)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		problems = append(problems, "name one pack: tapdesk audit check-evidence FILE --public-key KEY")
	}
	var pub ed25519.PublicKey
	if k := *keyFlag; k == "" {
		problems = append(problems, "--public-key is not set: give the public key tapdesk audit public-key printed")
	} else if pub, err = readPublicKey(k); err != nil {
		problems = append(problems, "--public-key: "+err.Error())
	}
	if len(problems) > 0 {
		return &configError{problems}
	}
	data, err := os.ReadFile(positional[0])
	if err != nil {
		return fmt.Errorf("tapdesk audit check-evidence: %w", err)
	}
	sum, bad := evidence.CheckPack(data, pub)
	if len(bad) > 0 {
		fmt.Fprintf(stdout, "The evidence pack %s does NOT check out:\n", positional[0])
		for _, b := range bad {
			fmt.Fprintf(stdout, "  - %s\n", b)
		}
		return &exitError{code: 1, msg: "audit check-evidence: " + bad[0]}
	}
	fmt.Fprintf(stdout, "The evidence pack checks out: request %s, %d events (%d–%d), signed with key %s.\n",
		sum.RequestID, sum.Events, sum.FirstSeq, sum.LastSeq, sum.KeyID)
	fmt.Fprintf(stdout, "  Exported %s by %s; the checkpoint at event %d was signed %s.\n",
		sum.ExportedAt, sum.ExportedBy, sum.Checkpoint.Seq, sum.Checkpoint.Time)
	fmt.Fprintln(stdout, "  To tie it to the trail itself, run tapdesk audit verify --checkpoints with the published checkpoints: the trail must still reach them.")
	return nil
}

// checkpointFile is a checkpoint file read and checked for verify.
type checkpointFile struct {
	path  string
	all   []evidence.Checkpoint
	valid []evidence.Checkpoint // signatures that check out
	bad   []string              // a sentence per one that does not
}

// readCheckpointFile reads and checks the signatures of a checkpoint file.
func readCheckpointFile(path string, pub ed25519.PublicKey) (*checkpointFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cps, err := evidence.ReadCheckpoints(f)
	if err != nil {
		return nil, err
	}
	if len(cps) == 0 {
		return nil, fmt.Errorf("%s holds no checkpoints", path)
	}
	cf := &checkpointFile{path: path, all: cps}
	for i, cp := range cps {
		if err := cp.Verify(pub); err != nil {
			cf.bad = append(cf.bad, fmt.Sprintf("checkpoint %d in %s (event %d, %s): %v", i+1, path, cp.Seq, cp.Time, err))
			continue
		}
		cf.valid = append(cf.valid, cp)
	}
	return cf, nil
}

// last is the valid checkpoint with the highest seq: the trail must reach it.
func (cf *checkpointFile) last() (evidence.Checkpoint, bool) {
	var out evidence.Checkpoint
	for _, cp := range cf.valid {
		if cp.Seq > out.Seq {
			out = cp
		}
	}
	return out, out.Seq > 0
}

// checkAgainst compares every valid checkpoint with the trail in db: the
// event at its seq must carry its mac. firstSeq is the first event the
// trail still holds (events before it were pruned, and are not compared).
func (cf *checkpointFile) checkAgainst(ctx context.Context, db *store.DB, firstSeq int64) (bad, notes []string, err error) {
	for _, cp := range cf.valid {
		mac, found, err := db.EventMAC(ctx, cp.Seq)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case !found && cp.Seq < firstSeq:
			notes = append(notes, fmt.Sprintf("the checkpoint at event %d (%s) was pruned; it was not compared", cp.Seq, cp.Time))
		case !found:
			bad = append(bad, fmt.Sprintf("the checkpoint signed %s names event %d, which the trail no longer holds: events were cut off the end", cp.Time, cp.Seq))
		case mac != cp.MAC:
			bad = append(bad, fmt.Sprintf("event %d does not carry the mac the checkpoint signed %s holds for it: the trail was rewritten from there", cp.Seq, cp.Time))
		}
	}
	return bad, notes, nil
}

// checkpointsFlag reads verify's --checkpoints and --public-key (nil: not
// asked for).
func checkpointsFlag(path, key string, problems *[]string) *checkpointFile {
	if path == "" {
		if key != "" {
			*problems = append(*problems, "--public-key is for --checkpoints: name the checkpoint file too")
		}
		return nil
	}
	if key == "" {
		*problems = append(*problems, "--checkpoints needs --public-key: the public key tapdesk audit public-key printed")
		return nil
	}
	pub, err := readPublicKey(key)
	if err != nil {
		*problems = append(*problems, "--public-key: "+err.Error())
		return nil
	}
	cf, err := readCheckpointFile(path, pub)
	if err != nil {
		*problems = append(*problems, "--checkpoints: "+err.Error())
		return nil
	}
	return cf
}

// furthest is the head the trail must reach: the kept head or the last
// signed checkpoint, whichever is later.
func (cf *checkpointFile) furthest(recorded []store.Head) []store.Head {
	if cf == nil {
		return recorded
	}
	last, ok := cf.last()
	if !ok || (len(recorded) > 0 && recorded[0].Seq >= last.Seq) {
		return recorded
	}
	return []store.Head{{Seq: last.Seq, MAC: last.MAC}}
}

// report says what the checkpoints found, and fails verify when a
// signature does not check out or the trail does not carry a checkpoint's
// mac. A chain break is verify's own to report; nil cf says nothing.
func (cf *checkpointFile) report(ctx context.Context, db *store.DB, rep store.VerifyReport, stdout io.Writer) error {
	if cf == nil {
		return nil
	}
	bad := cf.bad
	var notes []string
	if rep.Break == nil {
		more, n, err := cf.checkAgainst(ctx, db, rep.FirstSeq)
		if err != nil {
			return err
		}
		bad, notes = append(bad, more...), n
	}
	if len(bad) > 0 {
		fmt.Fprintf(stdout, "The checkpoints in %s do NOT all check out:\n", cf.path)
		for _, b := range bad {
			fmt.Fprintf(stdout, "  - %s\n", b)
		}
		return &exitError{code: 1, msg: "audit verify: " + bad[0]}
	}
	if rep.Break == nil {
		last, _ := cf.last()
		fmt.Fprintf(stdout, "The %d signed checkpoints in %s check out; the trail still reaches the last, event %d (signed %s).\n",
			len(cf.valid), cf.path, last.Seq, last.Time)
		for _, n := range notes {
			fmt.Fprintf(stdout, "  Note: %s.\n", n)
		}
	}
	return nil
}
