package handlers

import (
	"net/http"
	"regexp"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk/views"
)

// DemoRoutes mounts the demo-only surface: the identity provider's persona
// picker and endpoints, and the captured mailbox. tapdesk serve never calls it.
func (h *Handler) DemoRoutes(e *echo.Echo, idp http.Handler, mailbox func() []views.MailboxMessage) {
	e.Any("/demo/idp/*", echo.WrapHandler(idp))
	e.GET("/demo/mailbox", func(c echo.Context) error {
		msgs := mailbox()
		slices.Reverse(msgs) // newest first
		for i := range msgs {
			msgs[i].Links = linkPattern.FindAllString(msgs[i].Text, -1)
		}
		return h.render(c, http.StatusOK, views.MailboxPage(h.page(c, "Demo mailbox"), msgs))
	}, keepSecret) // the mails' approval and dispute links carry tokens
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)
