package fakegraph

import (
	"fmt"
	"time"
)

// AddMethodAt registers a method as AddMethod does, but stamped created
// instead of now: for tests of what tapdesk reads from the stamps (Graph
// stamps registrations in whole seconds, with its own clock). It returns
// the method id.
func (t *Tenant) AddMethodAt(userID, kind string, created time.Time) (string, error) {
	id, err := t.AddMethod(userID, kind)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	for _, m := range u.Methods {
		if m.ID == id {
			if m.CreatedDateTime == nil {
				return "", fmt.Errorf("fakegraph: Graph gives %s methods no createdDateTime", kind)
			}
			c := created.UTC()
			m.CreatedDateTime = &c
		}
	}
	return id, nil
}
