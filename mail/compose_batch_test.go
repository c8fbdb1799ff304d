package mail

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
)

// composeStore is a RequestStore that counts what composing asks of it.
type composeStore struct {
	mu        sync.Mutex
	requests  map[string]*tapdesk.Request
	reads     int
	oneByOne  int // CreateLink and CreateDisputeLink calls
	batches   [][]Link
	failLinks error
}

func (s *composeStore) Request(ctx context.Context, id string) (*tapdesk.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	r, ok := s.requests[id]
	if !ok {
		return nil, tapdesk.Errorf(tapdesk.ENOTFOUND, "no request %s", id)
	}
	c := *r
	return &c, nil
}

func (s *composeStore) CreateLink(ctx context.Context, token, requestID, recipient string, now, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oneByOne++
	return nil
}

func (s *composeStore) CreateDisputeLink(ctx context.Context, token, requestID, recipient string, now, expires time.Time) error {
	return s.CreateLink(ctx, token, requestID, recipient, now, expires)
}

func (s *composeStore) CreateLinks(ctx context.Context, links []Link) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failLinks != nil {
		return s.failLinks
	}
	s.batches = append(s.batches, links)
	return nil
}

// A filed request's five mails (three approval requests, the target's and
// the manager's notices) read the request once and store their five links
// in one write; each mail carries the link stored for its recipient.
func TestComposeBatch(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	r := &tapdesk.Request{ID: "req-1", State: tapdesk.StatePending, TargetName: "Tess", TargetUPN: "tess@contoso.example",
		TicketRef: "INC-1", ApprovalsRequired: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(4 * time.Hour)}
	r.Requester.Name = "Agent"
	st := &composeStore{requests: map[string]*tapdesk.Request{r.ID: r}}
	c := &RequestComposer{Store: st, BaseURL: "https://tapdesk.example", Now: func() time.Time { return now }}
	items := []Item{
		{ID: 1, Kind: KindApprovalRequest, RequestID: r.ID, To: "a1@contoso.example"},
		{ID: 2, Kind: KindApprovalRequest, RequestID: r.ID, To: "a2@contoso.example"},
		{ID: 3, Kind: KindApprovalRequest, RequestID: r.ID, To: "a3@contoso.example"},
		{ID: 4, Kind: KindPassRequested, RequestID: r.ID, To: "tess@contoso.example"},
		{ID: 5, Kind: KindPassRequested, RequestID: r.ID, To: "boss@contoso.example"},
		{ID: 6, Kind: KindRequestDecided, RequestID: "gone", To: "agent@contoso.example"},
	}
	msgs, errs := c.ComposeBatch(t.Context(), items)
	if st.reads != 2 {
		t.Errorf("read the requests %d times, want once each (2)", st.reads)
	}
	if st.oneByOne != 0 || len(st.batches) != 1 || len(st.batches[0]) != 5 {
		t.Fatalf("links stored: %d one by one, batches %d; want the five in one write", st.oneByOne, len(st.batches))
	}
	for i, l := range st.batches[0] {
		it := items[i]
		want := "/approve/"
		if it.Kind == KindPassRequested {
			want = "/dispute/"
		}
		if errs[i] != nil || l.Recipient != it.To || l.Dispute != (it.Kind == KindPassRequested) ||
			!strings.Contains(msgs[i].Text, want+l.Token) || msgs[i].To[0] != it.To {
			t.Errorf("item %d: err %v, link %+v, mail to %v:\n%s", i, errs[i], l, msgs[i].To, msgs[i].Text)
		}
	}
	if !errors.Is(errs[5], ErrPermanent) {
		t.Errorf("mail about a request that is gone: %v, want a permanent failure", errs[5])
	}

	// Links that cannot be stored keep their mails from going out; a mail
	// without a link still goes.
	st.failLinks = errors.New("database is locked")
	items[5].RequestID = r.ID
	_, errs = c.ComposeBatch(t.Context(), items)
	for i, err := range errs[:5] {
		if err == nil {
			t.Errorf("item %d composed though its link was not stored", i)
		}
	}
	if errs[5] != nil {
		t.Errorf("the decision mail, which has no link: %v", errs[5])
	}
}
