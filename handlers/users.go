package handlers

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/views"
)

// userSearch is GET /users?q=.
func (h *Handler) userSearch(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	s := views.UserSearch{Query: q}
	switch {
	case q == "":
	case utf8.RuneCountInString(q) < 2:
		s.Message = "Type at least two characters of the name or UPN."
	case len(q) > 256 || strings.ContainsAny(q, "\x00\r\n"):
		s.Message = "That search is too long or has characters no name or UPN contains."
	default:
		users, err := h.dir.SearchUsers(c.Request().Context(), q, 25)
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
	card, err := h.lookUp(c, c.Param("user"))
	if err != nil {
		return err
	}
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest,
		TargetID: card.User.ID, TargetUPN: card.User.UPN})
	if err := h.eligible(c, card); err != nil {
		card.Ineligible = tapdesk.ErrorMessage(err)
	}
	return h.render(c, http.StatusOK, views.UserCardPage(h.page(c, card.User.DisplayName), card))
}

// lookUp loads a user with the tenant policy, methods and any existing pass.
func (h *Handler) lookUp(c echo.Context, idOrUPN string) (views.UserCard, error) {
	ctx := c.Request().Context()
	idOrUPN = strings.TrimSpace(idOrUPN)
	if idOrUPN == "" || len(idOrUPN) > 256 || strings.ContainsAny(idOrUPN, "/\\?\x00\r\n") {
		return views.UserCard{}, tapdesk.Errorf(tapdesk.EINVALID, "That is not a user principal name or object id.")
	}
	u, err := h.dir.User(ctx, idOrUPN)
	if err != nil {
		return views.UserCard{}, err
	}
	policy, err := h.dir.TAPPolicy(ctx)
	if err != nil {
		return views.UserCard{}, err
	}
	methods, err := h.dir.Methods(ctx, u.ID)
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
