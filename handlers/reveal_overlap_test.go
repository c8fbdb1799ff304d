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

// recountWaitsForRead is a store whose recount waits until the target's
// read has begun.
type recountWaitsForRead struct {
	Store
	r       *tapdesk.Request
	started <-chan struct{}
}

var (
	errReadOverlapped = errors.New("the target was being read while the trail was recounted")
	errReadAfter      = errors.New("the target was not read while the trail was recounted")
)

func (s recountWaitsForRead) Request(context.Context, string) (*tapdesk.Request, error) {
	return s.r, nil
}

func (s recountWaitsForRead) RequestEvidence(context.Context, string) ([]tapdesk.Event, []int64, error) {
	select {
	case <-s.started:
		return nil, nil, errReadOverlapped
	case <-time.After(10 * time.Second): // only a failing run waits this out
		return nil, nil, errReadAfter
	}
}

// slowTarget is a directory whose read of a user lasts until it is given
// up, and says when it began and ended.
type slowTarget struct {
	tapdesk.Directory
	started, ended chan struct{}
}

func (d slowTarget) User(ctx context.Context, _ string) (*tapdesk.DirectoryUser, error) {
	close(d.started)
	<-ctx.Done()
	close(d.ended)
	return nil, ctx.Err()
}

// The reveal reads its target from Entra while it recounts the audit trail
// (the agent waits for the slower of the two, not for both in turn), and a
// reveal that stops at the recount gives the read up and waits for it:
// nothing of the request runs on after its answer.
func TestRevealReadsTargetWhileRecounting(t *testing.T) {
	now := time.Now()
	agent := tapdesk.Principal{TenantID: "tid", ObjectID: "agent", UPN: "agent@contoso.example", Name: "Alex Agent",
		Roles: []tapdesk.Role{tapdesk.RoleRequester}, AuthTime: now, MFA: true}
	r := &tapdesk.Request{ID: "01JAAAAAAAAAAAAAAAAAAAAAAA", State: tapdesk.StateApproved, Requester: agent.Actor(),
		TargetID: "t1", ExpiresAt: now.Add(time.Hour), ApprovalsRequired: 1}
	dir := slowTarget{started: make(chan struct{}), ended: make(chan struct{})}
	h := New(Deps{Store: recountWaitsForRead{r: r, started: dir.started}, Directory: dir})
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/requests/"+r.ID+"/reveal", nil), httptest.NewRecorder())
	c.SetParamNames("id")
	c.SetParamValues(r.ID)
	c.Set(ctxPrincipal, agent)
	if err := h.reveal(c); !errors.Is(err, errReadOverlapped) {
		t.Fatalf("reveal gave %v, want %v", err, errReadOverlapped)
	}
	select {
	case <-dir.ended:
	default:
		t.Error("the reveal answered while its read of the target was still going")
	}
}
