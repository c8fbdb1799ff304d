package fakegraph

import "net/http"

// msgNoManager is Graph's answer for a user without a manager: the same 404
// and code as an unknown user, naming the "manager" navigation property.
const msgNoManager = "Resource 'manager' does not exist or one of its queried reference-property objects are not present."

// getManager serves GET /users/{id}/manager: the manager as a directory
// object (a user, with @odata.type) honouring $select, or 404
// Request_ResourceNotFound when the user has none, as Graph does.
func (s *Server) getManager(w http.ResponseWriter, r *http.Request, id string) {
	sel, ok := s.userSelect(w, r, "directoryObject")
	if !ok {
		return
	}
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		return
	}
	var m *User
	if u.Manager != "" {
		m = s.tenant.userLocked(u.Manager)
	}
	if m == nil {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", msgNoManager)
		return
	}
	body := userJSON(m, sel)
	body["@odata.context"] = odataContext(r, "directoryObjects"+selectContext(sel)+"/$entity")
	body["@odata.type"] = "#microsoft.graph.user"
	writeJSON(w, http.StatusOK, body)
}
