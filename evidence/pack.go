package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
)

// PackFormat marks an evidence pack and the version of its layout.
const PackFormat = "tapdesk-evidence-pack-v1"

// Pack is one request's evidence, to attach to its ticket: the request,
// each of its audit events with seq and mac, and a signed checkpoint at or
// after the last of them. The signature covers the manifest, which holds
// a SHA-256 of the request and of every event, so a checker can say which
// part was changed, not only that something was.
type Pack struct {
	Format    string      `json:"format"`
	Manifest  Manifest    `json:"manifest"`
	Signature string      `json:"signature"` // base64 Ed25519 over the manifest's JSON
	Request   PackRequest `json:"request"`
	Events    []PackEvent `json:"events"`
}

// Manifest is what the pack's signature covers.
type Manifest struct {
	RequestID     string          `json:"request_id"`
	ExportedAt    string          `json:"exported_at"`
	ExportedBy    string          `json:"exported_by"`
	KeyID         string          `json:"key_id"`
	RequestSHA256 string          `json:"request_sha256"`
	Events        []ManifestEvent `json:"events"`
	Checkpoint    Checkpoint      `json:"checkpoint"`
}

// ManifestEvent is one event as the signature holds it.
type ManifestEvent struct {
	Seq      int64  `json:"seq"`
	MAC      string `json:"mac"`
	Activity string `json:"activity"`
	SHA256   string `json:"sha256"`
}

// PackRequest is the request as the database held it at export. It never
// holds a pass: the request does not either.
type PackRequest struct {
	ID                 string         `json:"id"`
	CorrelationID      string         `json:"correlation_id"`
	State              string         `json:"state"`
	Requester          tapdesk.Actor  `json:"requester"`
	TargetID           string         `json:"target_id"`
	TargetUPN          string         `json:"target_upn"`
	TargetName         string         `json:"target_name"`
	TicketRef          string         `json:"ticket_ref"`
	Justification      string         `json:"justification"`
	VerificationMethod string         `json:"verification_method"`
	VerificationNote   string         `json:"verification_note"`
	LifetimeMinutes    int            `json:"lifetime_minutes"`
	UsableOnce         bool           `json:"usable_once"`
	StartAt            string         `json:"start_at,omitempty"`
	ApprovalsRequired  int            `json:"approvals_required"`
	PrivilegeReason    string         `json:"privilege_reason,omitempty"`
	CreatedAt          string         `json:"created_at"`
	UpdatedAt          string         `json:"updated_at"`
	ExpiresAt          string         `json:"expires_at"`
	TAPMethodID        string         `json:"tap_method_id,omitempty"`
	TAPCreatedAt       string         `json:"tap_created_at,omitempty"`
	TAPStartAt         string         `json:"tap_start_at,omitempty"`
	TAPExpiresAt       string         `json:"tap_expires_at,omitempty"`
	IssuedAt           string         `json:"issued_at,omitempty"`
	RevealedAt         string         `json:"revealed_at,omitempty"`
	FailureReason      string         `json:"failure_reason,omitempty"`
	DecisionNote       string         `json:"decision_note,omitempty"`
	Approvals          []PackApproval `json:"approvals"`
}

// PackApproval is one approver's decision.
type PackApproval struct {
	Approver  tapdesk.Actor `json:"approver"`
	Decision  string        `json:"decision"`
	Reason    string        `json:"reason,omitempty"`
	CreatedAt string        `json:"created_at"`
}

// PackEvent is one audit event, every field of its signed record, with its
// seq and its mac: whoever holds the audit key can recompute the mac.
type PackEvent struct {
	Seq           int64             `json:"seq"`
	MAC           string            `json:"mac"`
	Time          string            `json:"time"`
	Activity      string            `json:"activity"`
	Category      string            `json:"category"`
	Result        string            `json:"result,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	Actor         tapdesk.Actor     `json:"actor"`
	ActorIP       string            `json:"actor_ip,omitempty"`
	ActorAgent    string            `json:"actor_agent,omitempty"`
	TargetID      string            `json:"target_id,omitempty"`
	TargetUPN     string            `json:"target_upn,omitempty"`
	RequestID     string            `json:"request_id"`
	CorrelationID string            `json:"correlation_id,omitempty"`
	TAPMethodID   string            `json:"tap_method_id,omitempty"`
	Details       map[string]string `json:"details,omitempty"`
	HTTPRequestID string            `json:"http_request_id,omitempty"`
}

// SealedEvent is an event and the mac the trail holds for it.
type SealedEvent struct {
	tapdesk.Event
	MAC string
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func stampPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}

func packRequest(r *tapdesk.Request) PackRequest {
	p := PackRequest{ID: r.ID, CorrelationID: r.CorrelationID, State: string(r.State), Requester: r.Requester,
		TargetID: r.TargetID, TargetUPN: r.TargetUPN, TargetName: r.TargetName, TicketRef: r.TicketRef,
		Justification: r.Justification, VerificationMethod: r.VerificationMethod, VerificationNote: r.VerificationNote,
		LifetimeMinutes: r.LifetimeMinutes, UsableOnce: r.UsableOnce, StartAt: stampPtr(r.StartAt),
		ApprovalsRequired: r.ApprovalsRequired, PrivilegeReason: r.PrivilegeReason,
		CreatedAt: stamp(r.CreatedAt), UpdatedAt: stamp(r.UpdatedAt), ExpiresAt: stamp(r.ExpiresAt),
		TAPMethodID: r.TAPMethodID, TAPCreatedAt: stampPtr(r.TAPCreatedAt), TAPStartAt: stampPtr(r.TAPStartAt),
		TAPExpiresAt: stampPtr(r.TAPExpiresAt), IssuedAt: stampPtr(r.IssuedAt), RevealedAt: stampPtr(r.RevealedAt),
		FailureReason: r.FailureReason, DecisionNote: r.DecisionNote, Approvals: []PackApproval{}}
	for _, a := range r.Approvals {
		p.Approvals = append(p.Approvals, PackApproval{Approver: a.Approver, Decision: string(a.Decision), Reason: a.Reason, CreatedAt: stamp(a.CreatedAt)})
	}
	return p
}

func packEvent(e SealedEvent) PackEvent {
	return PackEvent{Seq: e.Seq, MAC: e.MAC, Time: stamp(e.Time), Activity: string(e.Activity), Category: string(e.Category),
		Result: string(e.Result), Reason: e.Reason, Actor: e.Actor, ActorIP: e.ActorIP, ActorAgent: e.ActorAgent,
		TargetID: e.TargetID, TargetUPN: e.TargetUPN, RequestID: e.RequestID, CorrelationID: e.CorrelationID,
		TAPMethodID: e.TAPMethodID, Details: e.Details, HTTPRequestID: e.HTTPRequestID}
}

// digest is the SHA-256 of v's JSON. encoding/json writes struct fields in
// their declared order and map keys sorted, so a pack read back and
// written again gives the same bytes: the digest is of the content, not of
// the file's spacing.
func digest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings, numbers and string maps always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// manifestBytes is what the pack's signature covers.
func manifestBytes(m Manifest) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return append([]byte(PackFormat+"\n"), b...)
}

// BuildPack assembles and signs a request's evidence pack. cp must be at
// or after the last event (the caller publishes one if none is yet).
func (s *Signer) BuildPack(r *tapdesk.Request, events []SealedEvent, cp Checkpoint, by string, at time.Time) ([]byte, error) {
	p := Pack{Format: PackFormat, Request: packRequest(r), Events: []PackEvent{}}
	p.Manifest = Manifest{RequestID: r.ID, ExportedAt: stamp(at), ExportedBy: by, KeyID: s.KeyID(),
		RequestSHA256: digest(p.Request), Events: []ManifestEvent{}, Checkpoint: cp}
	for _, e := range events {
		if e.RequestID != r.ID {
			return nil, fmt.Errorf("event %d belongs to request %s, not %s", e.Seq, e.RequestID, r.ID)
		}
		if e.Seq > cp.Seq {
			return nil, fmt.Errorf("the checkpoint (event %d) comes before event %d", cp.Seq, e.Seq)
		}
		pe := packEvent(e)
		p.Events = append(p.Events, pe)
		p.Manifest.Events = append(p.Manifest.Events, ManifestEvent{Seq: pe.Seq, MAC: pe.MAC, Activity: pe.Activity, SHA256: digest(pe)})
	}
	p.Signature = s.sign(manifestBytes(p.Manifest))
	out, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// PackSummary is what a pack that checks out holds, for the checker to say.
type PackSummary struct {
	RequestID  string
	Events     int
	FirstSeq   int64
	LastSeq    int64
	Checkpoint Checkpoint
	ExportedAt string
	ExportedBy string
	KeyID      string
}

// CheckPack verifies a pack offline with the public key alone: its shape,
// its signature, the checkpoint's signature, that the checkpoint is at or
// after every event, and that the request and each event are the ones the
// signature covers. Each problem is a sentence naming what does not hold;
// none means the pack is as tapdesk signed it.
func CheckPack(data []byte, pub ed25519.PublicKey) (PackSummary, []string) {
	var p Pack
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return PackSummary{}, []string{fmt.Sprintf("The file is not a tapdesk evidence pack: %v.", err)}
	}
	if dec.More() {
		return PackSummary{}, []string{"The file is not a tapdesk evidence pack: something follows the pack."}
	}
	if p.Format != PackFormat {
		return PackSummary{}, []string{fmt.Sprintf("The file is not a tapdesk evidence pack: its format is %q, not %q.", p.Format, PackFormat)}
	}
	m := p.Manifest
	sum := PackSummary{RequestID: m.RequestID, Events: len(p.Events), Checkpoint: m.Checkpoint,
		ExportedAt: m.ExportedAt, ExportedBy: m.ExportedBy, KeyID: m.KeyID}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil || !ed25519.Verify(pub, manifestBytes(m), sig) {
		if m.KeyID != KeyID(pub) {
			return sum, []string{fmt.Sprintf("The pack's signature does not check out: the pack names key %s, and the public key given is %s (another installation's key, or a forged pack).", m.KeyID, KeyID(pub))}
		}
		return sum, []string{"The pack's signature does not check out with the public key: its manifest (the request id, the list of events with their seq, mac and digest, or the checkpoint) was changed after tapdesk signed it."}
	}
	var problems []string
	if err := m.Checkpoint.Verify(pub); err != nil {
		problems = append(problems, fmt.Sprintf("The checkpoint in the pack does not check out: %v.", err))
	}
	if p.Request.ID != m.RequestID {
		problems = append(problems, fmt.Sprintf("The request in the pack is %q, but the pack was signed for request %s.", p.Request.ID, m.RequestID))
	} else if digest(p.Request) != m.RequestSHA256 {
		problems = append(problems, fmt.Sprintf("The request %s was changed after the pack was signed: its content does not match the signed digest.", m.RequestID))
	}
	listed := map[int64]ManifestEvent{}
	for i, me := range m.Events {
		listed[me.Seq] = me
		if me.Seq > m.Checkpoint.Seq {
			problems = append(problems, fmt.Sprintf("The checkpoint (event %d) comes before the request's event %d: it does not vouch for it.", m.Checkpoint.Seq, me.Seq))
		}
		if i > 0 && me.Seq <= m.Events[i-1].Seq {
			problems = append(problems, fmt.Sprintf("The signed list of events is out of order at event %d.", me.Seq))
		}
	}
	present := map[int64]bool{}
	for i, e := range p.Events {
		me, ok := listed[e.Seq]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("Event %d (%s), number %d in the pack, is not among the signed events: it was added, or its seq was changed.", e.Seq, e.Activity, i+1))
		case present[e.Seq]:
			problems = append(problems, fmt.Sprintf("Event %d appears more than once in the pack.", e.Seq))
		case e.MAC != me.MAC:
			problems = append(problems, fmt.Sprintf("Event %d (%s) carries a mac other than the signed one: its mac was changed.", e.Seq, me.Activity))
		case digest(e) != me.SHA256:
			problems = append(problems, fmt.Sprintf("Event %d (%s) was changed after the pack was signed: its content (activity, actor, reason, time or details) does not match the signed digest.", e.Seq, me.Activity))
		}
		if ok && e.RequestID != m.RequestID && digest(e) == me.SHA256 {
			problems = append(problems, fmt.Sprintf("Event %d belongs to request %s, not to %s.", e.Seq, e.RequestID, m.RequestID))
		}
		present[e.Seq] = true
	}
	for _, me := range m.Events {
		if !present[me.Seq] {
			problems = append(problems, fmt.Sprintf("Event %d (%s) is missing from the pack: the signature lists it, so it was removed.", me.Seq, me.Activity))
		}
	}
	if len(m.Events) > 0 {
		sum.FirstSeq, sum.LastSeq = m.Events[0].Seq, m.Events[len(m.Events)-1].Seq
	}
	return sum, problems
}
