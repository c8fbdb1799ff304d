package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/background"
	"github.com/tapdesk/tapdesk/views"
)

// userSearch is GET /users?q=. A term of the wrong shape (too long, control
// characters) gets 400 and never reaches Graph.
func (h *Handler) userSearch(c echo.Context) error {
	raw := c.QueryParam("q")
	s := views.UserSearch{Query: strings.TrimSpace(raw)}
	q, err := tapdesk.ParseSearchTerm(raw)
	switch {
	case err != nil:
		s.Message = tapdesk.ErrorMessage(err)
		status := http.StatusOK // too short: still typing
		if tapdesk.ErrorCode(err) == tapdesk.EMALFORMED {
			status = http.StatusBadRequest
			s.Query = "" // a 10 KB term is not echoed back into the page
		}
		return h.render(c, status, views.UserSearchPage(h.page(c, "Find user"), s))
	case q == "":
	default:
		users, err := h.dir.SearchUsers(c.Request().Context(), string(q), 25)
		if err != nil {
			return err
		}
		s.Results = users
		if len(users) == 0 {
			s.Message = "No user's name or UPN starts with that. Check the spelling, or search by the start of the UPN."
		}
	}
	return h.render(c, http.StatusOK, views.UserSearchPage(h.page(c, "Find user"), s))
}

// userCard is GET /users/{upn or id}.
func (h *Handler) userCard(c echo.Context) error {
	key, err := userKeyParam(c)
	if err != nil {
		return err
	}
	card, err := h.lookUp(c, key)
	if err != nil {
		return err
	}
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest,
		TargetID: card.User.ID, TargetUPN: card.User.UPN})
	if _, err := h.eligible(c, card); err != nil {
		card.Ineligible = tapdesk.ErrorMessage(err)
	}
	if card.Open, err = h.store.OpenRequestFor(c.Request().Context(), card.User.ID); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.UserCardPage(h.page(c, card.User.DisplayName), card))
}

// userKeyParam is the user key of the path, unescaped. echo routes on the
// escaped path when the client escaped more than Go would (a guest's
// x_y.example%23EXT%23%40tenant, as encodeURIComponent writes it: URL.RawPath
// is set) and then hands the parameter over still escaped; else it comes
// decoded already, and decoding it again would turn %2523 into '#'.
func userKeyParam(c echo.Context) (string, error) {
	key := c.Param("user")
	if c.Request().URL.RawPath == "" {
		return key, nil
	}
	return tapdesk.UserKeyFromPath(key)
}

// lookUp loads a user with the tenant policy, methods and any existing pass.
// Only an object id or a UPN shape is looked up (tapdesk.ParseUserKey).
func (h *Handler) lookUp(c echo.Context, idOrUPN string) (views.UserCard, error) {
	ctx := c.Request().Context()
	key, err := tapdesk.ParseUserKey(idOrUPN)
	if err != nil {
		return views.UserCard{}, err
	}
	// The user (with the tenant's TAP policy, which the directory reads
	// alongside to tell whether it covers them) and the user's methods are
	// read side by side (the methods need only the object id, which a
	// lookup by id has from the start): the person waits for the slower,
	// not for each in turn. Errors keep the order the reads used to be made
	// in.
	var readMethods *background.Read[[]tapdesk.AuthMethod]
	if key.IsObjectID() {
		readMethods = background.Start(ctx, h.log, func(ctx context.Context) ([]tapdesk.AuthMethod, error) { return h.dir.Methods(ctx, key.String()) })
		defer readMethods.Stop(tapdesk.ErrReadAbandoned)
	}
	u, err := h.dir.User(ctx, key.String())
	if err != nil {
		return views.UserCard{}, err
	}
	policy, err := h.policyOf(ctx, u) // the card shows the policy's bounds
	if err != nil {
		return views.UserCard{}, err
	}
	var methods []tapdesk.AuthMethod
	if readMethods != nil {
		methods, err = readMethods.Result()
	} else {
		methods, err = h.dir.Methods(ctx, u.ID)
	}
	if err != nil {
		return views.UserCard{}, err
	}
	card := views.UserCard{User: u, Methods: methods, Policy: policy}
	for _, m := range methods {
		if m.TAP != nil {
			card.TAP = m.TAP
		}
	}
	return card, nil
}

// policyOf is the tenant's TAP policy as the directory read it with u
// (DirectoryUser.ScopePolicy). When that read failed, which only left u's
// scope unknown, the policy is read now, and a second failure is the
// caller's error.
func (h *Handler) policyOf(ctx context.Context, u *tapdesk.DirectoryUser) (*tapdesk.TAPPolicy, error) {
	if u.ScopePolicy != nil {
		return u.ScopePolicy, nil
	}
	return h.dir.TAPPolicy(ctx)
}
