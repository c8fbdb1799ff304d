package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// Routes is the whole URL surface (DESIGN.md), in one place.
func (h *Handler) Routes(e *echo.Echo) {
	e.HTTPErrorHandler = h.errorHandler
	// One middleware, composed once (pipeline.go): limitBody comes before
	// anything that may read a body (sessions, CSRF, handlers); only
	// logging, recovery and headers precede it, so its refusals are logged
	// and carry the security headers. Probes and static files
	// (sessionless) skip the session, the signed-in person and CSRF: with
	// a session cookie, each would otherwise read (and write) the session
	// store. A skip list rather than a group: a route added later gets the
	// session and CSRF unless it is named there.
	e.Use(h.pipeline(e))

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/static/*", h.staticFile)
	e.GET("/favicon.ico", h.favicon)
	// echo routes HEAD apart from GET: probes and caches checking a file
	// ask with HEAD (the server drops the body).
	e.HEAD("/healthz", h.healthz)
	e.HEAD("/readyz", h.readyz)
	e.HEAD("/static/*", h.staticFile)
	e.HEAD("/favicon.ico", h.favicon)

	e.GET("/", h.dashboard)
	e.GET("/auth/login", h.login, h.limit(tapdesk.RateSignIn))
	e.GET("/auth/callback", h.callback, h.limit(tapdesk.RateCallback))
	e.POST("/auth/logout", h.logout)

	req := h.require(tapdesk.RoleRequester)
	// The search page without a query is only the form.
	e.GET("/users", h.userSearch, req, h.limitWhen(tapdesk.RateSearch, func(c echo.Context) bool { return c.QueryParam("q") != "" }))
	e.GET("/users/:user", h.userCard, req, h.limit(tapdesk.RateUserCard))
	// The form looks the user up in Graph as the user card does.
	e.GET("/requests/new", h.requestForm, req, h.limit(tapdesk.RateUserCard))
	e.POST("/requests", h.fileRequest, req, h.limit(tapdesk.RateFile))

	signed := h.require()
	e.GET("/requests/:id", h.requestDetail, signed)
	e.POST("/requests/:id/cancel", h.cancel, signed)
	e.POST("/requests/:id/approve", h.approve, h.require(tapdesk.RoleApprover))
	e.POST("/requests/:id/deny", h.deny, h.require(tapdesk.RoleApprover))
	// Pages that show a pass or carry a link's token are never sent
	// compressed (keepSecret, tapdesk.CompressPage).
	e.POST("/requests/:id/reveal", h.reveal, keepSecret, signed, h.limit(tapdesk.RateReveal))
	e.POST("/requests/:id/revoke", h.revoke, signed)
	// The request page's live status (polled by app.js), and the
	// confirmation pages of cancel and revoke for browsers without
	// JavaScript (status slice, issue 12).
	e.GET(requestStatusPath, h.requestStatus, signed)
	e.GET("/requests/:id/cancel", h.confirmCancel, signed)
	e.GET("/requests/:id/revoke", h.confirmRevoke, signed)
	// The request's signed evidence pack (evidence slice, issue 13).
	e.GET("/requests/:id/evidence", h.requestEvidence, signed)
	link := h.limit(tapdesk.RateLink)
	e.GET("/approve/:token", h.approvalLink, keepSecret, link)
	// "This wasn't me" links in notices to the target and their manager:
	// no sign-in, and they can only stop (GET shows, POST stops).
	e.GET("/dispute/:token", h.disputeLanding, keepSecret, link)
	e.POST("/dispute/:token", h.dispute, keepSecret, link)

	audit := h.require(tapdesk.RoleAuditor)
	e.GET("/audit", h.auditList, audit)
	e.GET("/audit/export", h.auditExport, audit, h.limit(tapdesk.RateExport))
	e.GET("/audit/verify", h.auditVerify, audit, h.limit(tapdesk.RateVerify))
	// A report counts over up to a year of the trail: paced like exports.
	report := h.limit(tapdesk.RateReport)
	e.GET("/reports", h.reports, audit, report)
	e.GET("/reports/:file", h.reportCSV, audit, report)
	e.GET("/alerts", h.alertsPage, audit)

	// Heightened-threat mode's switch (issue 13, threat.go).
	admin := h.require(tapdesk.RoleAdmin)
	e.GET("/admin/threat-mode", h.threatModePage, admin)
	e.POST("/admin/threat-mode", h.switchThreatMode, admin)
}

// sessionless says whether the matched route is one that answers the same
// to everyone and is asked for far more often than pages: probes and
// static files. They never touch the session store, the signed-in person
// or the CSRF cookie (see Routes).
func sessionless(c echo.Context) bool {
	switch c.Path() {
	case "/healthz", "/readyz", "/static/*", "/favicon.ico":
		return true
	}
	return false
}
