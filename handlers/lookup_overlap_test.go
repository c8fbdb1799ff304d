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

// policyAndMethodsFirst is a directory whose user read waits until the
// TAP policy and the user's methods are being read.
type policyAndMethodsFirst struct {
	tapdesk.Directory
	policy, methods chan struct{}
}

func (d policyAndMethodsFirst) TAPPolicy(context.Context) (*tapdesk.TAPPolicy, error) {
	close(d.policy)
	return &tapdesk.TAPPolicy{Enabled: true}, nil
}

func (d policyAndMethodsFirst) Methods(_ context.Context, id string) ([]tapdesk.AuthMethod, error) {
	close(d.methods)
	return nil, nil
}

func (d policyAndMethodsFirst) User(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	for _, ch := range []chan struct{}{d.policy, d.methods} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second): // only a failing run waits this out
			return nil, errors.New("the policy and the methods were not read while the user was")
		}
	}
	return &tapdesk.DirectoryUser{ID: id, DisplayName: "Nina Newhire", UserType: "Member", AccountEnabled: true}, nil
}

// A user card's reads (the user, the tenant's TAP policy, the user's
// methods) are made side by side, not one after another.
func TestLookUpReadsSideBySide(t *testing.T) {
	dir := policyAndMethodsFirst{policy: make(chan struct{}), methods: make(chan struct{})}
	h := New(Deps{Directory: dir})
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/users/x", nil), httptest.NewRecorder())
	card, err := h.lookUp(c, "22222222-2222-4222-8222-000000000001")
	if err != nil || card.User.DisplayName != "Nina Newhire" || card.Policy == nil {
		t.Fatalf("lookup gave %+v, %v", card, err)
	}
}
