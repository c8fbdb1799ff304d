package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// recountWaitsForRead is a store whose recount waits until the reads of
// the target and of their passes have begun.
type recountWaitsForRead struct {
	Store
	r                *tapdesk.Request
	started, tapsRun <-chan struct{}
}

var (
	errReadOverlapped = errors.New("the target and their passes were being read while the trail was recounted")
	errReadAfter      = errors.New("the target was not read while the trail was recounted")
	errTAPsAfter      = errors.New("the target's passes were not read while the trail was recounted")
)

func (s recountWaitsForRead) Request(context.Context, string) (*tapdesk.Request, error) {
	return s.r, nil
}

func (s recountWaitsForRead) RequestEvidence(context.Context, string) ([]tapdesk.Event, []int64, error) {
	for read, late := range map[<-chan struct{}]error{s.started: errReadAfter, s.tapsRun: errTAPsAfter} {
		select {
		case <-read:
		case <-time.After(10 * time.Second): // only a failing run waits this out
			return nil, nil, late
		}
	}
	return nil, nil, errReadOverlapped
}

// slowTarget is a directory whose reads of a user and of their passes
// last until they are given up, and say when they began and ended.
type slowTarget struct {
	tapdesk.Directory
	started, ended       chan struct{}
	tapsRun, tapsStopped chan struct{}
}

func (d slowTarget) User(ctx context.Context, _ string) (*tapdesk.DirectoryUser, error) {
	close(d.started)
	<-ctx.Done()
	close(d.ended)
	return nil, ctx.Err()
}

func (d slowTarget) TAPs(ctx context.Context, _ string) ([]tapdesk.TAPInfo, error) {
	close(d.tapsRun)
	<-ctx.Done()
	close(d.tapsStopped)
	return nil, ctx.Err()
}

// The reveal reads its target and the passes they hold from Entra while
// it recounts the audit trail (the agent waits for the slowest, not for
// each in turn: in production a Graph round trip less at the Issue
// button), and a reveal that stops at the recount gives the reads up and
// waits for them: nothing of the request runs on after its answer.
func TestRevealReadsTargetWhileRecounting(t *testing.T) {
	now := time.Now()
	agent := tapdesk.Principal{TenantID: "tid", ObjectID: "agent", UPN: "agent@contoso.example", Name: "Alex Agent",
		Roles: []tapdesk.Role{tapdesk.RoleRequester}, AuthTime: now, MFA: true}
	r := &tapdesk.Request{ID: "01JAAAAAAAAAAAAAAAAAAAAAAA", State: tapdesk.StateApproved, Requester: agent.Actor(),
		TargetID: "t1", ExpiresAt: now.Add(time.Hour), ApprovalsRequired: 1}
	dir := slowTarget{started: make(chan struct{}), ended: make(chan struct{}), tapsRun: make(chan struct{}), tapsStopped: make(chan struct{})}
	h := New(Deps{Store: recountWaitsForRead{r: r, started: dir.started, tapsRun: dir.tapsRun}, Directory: dir})
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/requests/"+r.ID+"/reveal", nil), httptest.NewRecorder())
	c.SetParamNames("id")
	c.SetParamValues(r.ID)
	stateOf(c).principal = agent
	if err := h.reveal(c); !errors.Is(err, errReadOverlapped) {
		t.Fatalf("reveal gave %v, want %v", err, errReadOverlapped)
	}
	for name, ended := range map[string]chan struct{}{"the target": dir.ended, "their passes": dir.tapsStopped} {
		select {
		case <-ended:
		default:
			t.Errorf("the reveal answered while its read of %s was still going", name)
		}
	}
}
