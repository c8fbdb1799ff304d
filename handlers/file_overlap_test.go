package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// managerFirst is a directory whose read of the target waits until their
// manager is being read.
type managerFirst struct {
	tapdesk.Directory
	manager chan struct{}
}

func (d managerFirst) User(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	select {
	case <-d.manager:
	case <-time.After(10 * time.Second): // only a failing run waits this out
		return nil, errors.New("the manager was not read while the target was")
	}
	return &tapdesk.DirectoryUser{ID: id, DisplayName: "Nina Newhire", UPN: "nina@contoso.example", UserType: "Member", AccountEnabled: true,
		ScopePolicy: &tapdesk.TAPPolicy{Enabled: true, MinLifetime: 60, MaxLifetime: 480, DefaultLifetime: 60}}, nil
}

func (d managerFirst) Methods(context.Context, string) ([]tapdesk.AuthMethod, error) { return nil, nil }

func (d managerFirst) Manager(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	close(d.manager)
	return &tapdesk.DirectoryUser{ID: "m-" + id, DisplayName: "Mia Manager", Mail: "mia@contoso.example"}, nil
}

// renamedTarget is a directory that answers a read of one object id with
// a user of another (as no directory should), each user's manager at an
// address of their own.
type renamedTarget struct{ tapdesk.Directory }

func (renamedTarget) User(context.Context, string) (*tapdesk.DirectoryUser, error) {
	return &tapdesk.DirectoryUser{ID: "33333333-3333-4333-8333-000000000003", DisplayName: "Omar Haddad", UPN: "omar@contoso.example", UserType: "Member", AccountEnabled: true,
		ScopePolicy: &tapdesk.TAPPolicy{Enabled: true, MinLifetime: 60, MaxLifetime: 480, DefaultLifetime: 60}}, nil
}

func (renamedTarget) Methods(context.Context, string) ([]tapdesk.AuthMethod, error) { return nil, nil }

func (renamedTarget) Manager(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	return &tapdesk.DirectoryUser{ID: "m-" + id, DisplayName: "Manager of " + id, Mail: "manager-of-" + id + "@contoso.example"}, nil
}

// filingStore keeps what a filing would store and refuses it, so nothing
// past the filing runs.
type filingStore struct {
	Store
	outbox []store.Mail
}

var errFiledInTest = errors.New("filed (test)")

func (s *filingStore) ThreatMode(context.Context) (tapdesk.ThreatMode, error) {
	return tapdesk.ThreatMode{}, nil
}

func (s *filingStore) OpenRequestFor(context.Context, string) (*tapdesk.Request, error) {
	return nil, nil
}

func (s *filingStore) FileRequest(_ context.Context, _ *tapdesk.Request, _ tapdesk.Event, outbox []store.Mail) error {
	s.outbox = outbox
	return errFiledInTest
}

// A filing reads the target's manager (to tell them) while it reads the
// target, not after: in production a Graph round trip less when the agent
// files. The manager read that way is the one told, and only when it is
// the manager of the user Graph returned.
func TestFilingReadsManagerWithTarget(t *testing.T) {
	file := func(t *testing.T, dir tapdesk.Directory) []string {
		t.Helper()
		agent := tapdesk.Principal{TenantID: "tid", ObjectID: "agent", UPN: "agent@contoso.example", Name: "Alex Agent",
			Roles: []tapdesk.Role{tapdesk.RoleRequester}, AuthTime: time.Now(), MFA: true}
		st := &filingStore{}
		h := New(Deps{Store: st, Directory: dir, Config: Config{NotifyManager: true}})
		form := url.Values{"user": {"22222222-2222-4222-8222-000000000001"}, "ticket_ref": {"INC-1"}, "justification": {"Lost phone, verified by video call"},
			"verification": {tapdesk.VerifyVideoID}, "verification_note": {"matched the badge photo"}, "lifetime": {"60"}}
		req := httptest.NewRequest(http.MethodPost, "/requests", strings.NewReader(form.Encode()))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(req, rec)
		stateOf(c).principal = agent
		if err := h.fileRequest(c); !errors.Is(err, errFiledInTest) {
			t.Fatalf("filing gave %v (%d), want it to reach the store", err, rec.Code)
		}
		var told []string
		for _, m := range st.outbox {
			told = append(told, m.To)
		}
		return told
	}
	if told := file(t, managerFirst{manager: make(chan struct{})}); !slices.Contains(told, "mia@contoso.example") {
		t.Errorf("the manager read beside the target was not told: %v", told)
	}
	// Graph answered with someone else: their manager is read and told,
	// not the one read for the id the form gave.
	told := file(t, renamedTarget{})
	if !slices.Contains(told, "manager-of-33333333-3333-4333-8333-000000000003@contoso.example") ||
		slices.Contains(told, "manager-of-22222222-2222-4222-8222-000000000001@contoso.example") {
		t.Errorf("told %v, want the manager of the user Graph returned only", told)
	}
}
