package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
)

// EvidencePacker builds a request's signed evidence pack (package
// evidence's Publisher; nil when no signing key is set).
type EvidencePacker interface {
	Pack(ctx context.Context, r *tapdesk.Request, by string) ([]byte, error)
}

// requestEvidence is GET /requests/{id}/evidence: the request's signed
// evidence pack as a download, for auditors and the agent who filed it.
// Others who may see the request are told they may not have its pack;
// those who may not see it get the request page's not-found.
func (h *Handler) requestEvidence(c echo.Context) error {
	r, err := h.loadRequest(c)
	if err != nil {
		return err
	}
	p := principal(c)
	if !tapdesk.CanExportEvidence(r, p) {
		h.audit(c, tapdesk.Event{Activity: tapdesk.ActAccessRefused, Category: tapdesk.CatAccess, Result: tapdesk.ResultFailure,
			Reason: "evidence pack: not an auditor or the request's agent", Details: map[string]string{"path": c.Request().URL.Path}}.ForRequest(r))
		return tapdesk.Titledf(tapdesk.EFORBIDDEN, "Not one of your tasks", "Only auditors and the agent who filed a request can download its evidence pack.")
	}
	if h.evidence == nil {
		return tapdesk.ErrEvidenceUnavailable()
	}
	a := p.Actor()
	pack, err := h.evidence.Pack(c.Request().Context(), r, fmt.Sprintf("%s (%s, %s)", a.Name, a.UPN, a.ObjectID))
	if errors.Is(err, evidence.ErrTrailBroken) {
		return tapdesk.ErrEvidenceTampered()
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(pack)
	h.audit(c, tapdesk.Event{Activity: tapdesk.ActEvidenceExported, Category: tapdesk.CatAudit,
		Details: map[string]string{"sha256": hex.EncodeToString(sum[:]), "bytes": strconv.Itoa(len(pack)), "via": "web"}}.ForRequest(r))
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="tapdesk-evidence-`+r.ID+`.json"`)
	hd.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/json", pack)
}
