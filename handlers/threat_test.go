package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tapdesk/tapdesk"
)

// threatCountingStore counts reads of heightened-threat mode; anything
// else it is asked panics (nil Store).
type threatCountingStore struct {
	Store
	reads atomic.Int32
	mode  tapdesk.ThreatMode
}

func (s *threatCountingStore) ThreatMode(context.Context) (tapdesk.ThreatMode, error) {
	s.reads.Add(1)
	return s.mode, nil
}

// oneTarget is a directory that knows one eligible, unprivileged user.
type oneTarget struct{ tapdesk.Directory }

func (oneTarget) User(_ context.Context, id string) (*tapdesk.DirectoryUser, error) {
	return &tapdesk.DirectoryUser{ID: id, DisplayName: "Nina Newhire", UPN: "nina@contoso.example", UserType: "Member", AccountEnabled: true}, nil
}

// Issuing reads heightened-threat mode once: the check before the pass is
// created and the banner of the page that shows it use the same read, with
// the mode off and on.
func TestIssueReadsThreatModeOnce(t *testing.T) {
	for _, on := range []bool{false, true} {
		st := &threatCountingStore{mode: tapdesk.ThreatMode{On: on}}
		h := New(Deps{Store: st, Directory: oneTarget{}})
		c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/requests/r1/reveal", nil), httptest.NewRecorder())
		r := &tapdesk.Request{ID: "r1", TargetID: "t1", TargetName: "Nina Newhire", ApprovalsRequired: tapdesk.ThreatApprovals}
		threat, err := h.targetStillFits(c, r, h.readUser(c.Request().Context(), r.TargetID))
		if err != nil || threat.On != on {
			t.Fatalf("on=%v: target check gave %+v, %v", on, threat, err)
		}
		if p := h.page(c, "Temporary Access Pass"); p.Threat.On != on {
			t.Errorf("on=%v: the page's banner says %+v", on, p.Threat)
		}
		if n := st.reads.Load(); n != 1 {
			t.Errorf("on=%v: the mode was read %d times in one issue, want 1", on, n)
		}
	}
}
