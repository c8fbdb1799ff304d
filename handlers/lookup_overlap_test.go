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

// methodsFirst is a directory whose user read waits until the user's
// methods are being read. Its user comes with the TAP policy it was
// judged against (as entra's does), so reading the policy again is a
// failure.
type methodsFirst struct {
	tapdesk.Directory
	methods chan struct{}
}

func (d methodsFirst) TAPPolicy(context.Context) (*tapdesk.TAPPolicy, error) {
	return nil, errors.New("the policy was read again, though the user came with it")
}

func (d methodsFirst) Methods(_ context.Context, id string) ([]tapdesk.AuthMethod, error) {
	close(d.methods)
	return nil, nil
}

func (d methodsFirst) User(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	select {
	case <-d.methods:
	case <-time.After(10 * time.Second): // only a failing run waits this out
		return nil, errors.New("the methods were not read while the user was")
	}
	return &tapdesk.DirectoryUser{ID: id, DisplayName: "Nina Newhire", UserType: "Member", AccountEnabled: true,
		ScopePolicy: &tapdesk.TAPPolicy{Enabled: true, MaxLifetime: 480}}, nil
}

// A user card's reads (the user with the tenant's TAP policy, the user's
// methods) are made side by side, not one after another, and the policy
// the user came with is not read a second time.
func TestLookUpReadsSideBySide(t *testing.T) {
	dir := methodsFirst{methods: make(chan struct{})}
	h := New(Deps{Directory: dir})
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/users/x", nil), httptest.NewRecorder())
	card, err := h.lookUp(c, "22222222-2222-4222-8222-000000000001")
	if err != nil || card.User.DisplayName != "Nina Newhire" || card.Policy == nil || card.Policy.MaxLifetime != 480 {
		t.Fatalf("lookup gave %+v, %v", card, err)
	}
}

// policyApart is a directory whose user comes without the policy (the
// directory's read of it failed): the lookup reads it on its own.
type policyApart struct {
	tapdesk.Directory
	policyErr error
}

func (d policyApart) User(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	return &tapdesk.DirectoryUser{ID: id, DisplayName: "Nina Newhire", UserType: "Member", AccountEnabled: true}, nil
}

func (d policyApart) Methods(context.Context, string) ([]tapdesk.AuthMethod, error) { return nil, nil }

func (d policyApart) TAPPolicy(context.Context) (*tapdesk.TAPPolicy, error) {
	if d.policyErr != nil {
		return nil, d.policyErr
	}
	return &tapdesk.TAPPolicy{Enabled: true, MaxLifetime: 240}, nil
}

// A user whose policy the directory could not read: the card reads it
// again, and fails with that read's error if it fails again.
func TestLookUpReadsThePolicyTheUserLacks(t *testing.T) {
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/users/x", nil), httptest.NewRecorder())
	card, err := New(Deps{Directory: policyApart{}}).lookUp(c, "22222222-2222-4222-8222-000000000001")
	if err != nil || card.Policy == nil || card.Policy.MaxLifetime != 240 {
		t.Fatalf("lookup gave %+v, %v", card, err)
	}
	unavailable := tapdesk.Titledf(tapdesk.EUNAVAILABLE, "Graph unavailable", "Microsoft Graph did not answer.")
	if _, err := New(Deps{Directory: policyApart{policyErr: unavailable}}).lookUp(c, "22222222-2222-4222-8222-000000000001"); !errors.Is(err, unavailable) {
		t.Fatalf("lookup with the policy unreadable: %v", err)
	}
}

// An approver's summary of the target reads the account and its methods
// side by side too: a Graph round trip less on the approver's page.
func TestGlanceReadsSideBySide(t *testing.T) {
	h := New(Deps{Directory: methodsFirst{methods: make(chan struct{})}})
	r := &tapdesk.Request{ID: "r1", TargetID: "22222222-2222-4222-8222-000000000001"}
	f := h.readTarget(context.Background(), r)
	if f.LookupError != "" || f.User == nil || f.User.DisplayName != "Nina Newhire" {
		t.Fatalf("target summary gave %+v", f)
	}
}
