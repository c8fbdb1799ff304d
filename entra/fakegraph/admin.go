package fakegraph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The control endpoints under /_fake/, for people and programs that run the
// fake as a separate server (go run ./cmd/fakegraph) and cannot call
// SetFault:
//
//	GET    /_fake/faults            the faults in force
//	POST   /_fake/faults            add faults: one FaultSpec or a list
//	DELETE /_fake/faults[?pattern=] remove one fault, or all
//	GET    /_fake/requests          the requests received (DELETE forgets them)
//	GET    /_fake/mail              mail sent through sendMail (DELETE forgets it)
//
// They answer JSON, need no token and are never faulted or recorded. The
// fake is a development tool: anyone who can reach it can change it.
const adminPrefix = "/_fake/"

// FaultSpec is a Fault as JSON, with the pattern it applies to.
type FaultSpec struct {
	// Pattern is an optional method and a path glob, as for SetFault:
	// "POST /v1.0/users/*/authentication/temporaryAccessPassMethods".
	Pattern string `json:"pattern"`
	Fault
	// Delay and HoldAfterWrite are Go durations ("1.5s", "250ms").
	Delay          string `json:"delay,omitempty"`
	HoldAfterWrite string `json:"holdAfterWrite,omitempty"`
	// Left is how many more requests the fault hits (-1: no limit); it is
	// reported, and ignored when adding.
	Left int `json:"left"`
}

// fault checks the spec and turns it into a Fault.
func (fs FaultSpec) fault() (Fault, error) {
	f := fs.Fault
	var problems []string
	if strings.TrimSpace(fs.Pattern) == "" {
		problems = append(problems, `"pattern" is empty; use e.g. "GET /v1.0/users/*" or "*"`)
	}
	if fs.Status != 0 && (fs.Status < 100 || fs.Status > 599) {
		problems = append(problems, fmt.Sprintf(`"status" %d is not an HTTP status`, fs.Status))
	}
	if fs.Delay != "" {
		d, err := time.ParseDuration(fs.Delay)
		if err != nil || d < 0 {
			problems = append(problems, fmt.Sprintf(`"delay" %q is not a duration like "2s" or "500ms"`, fs.Delay))
		}
		f.Delay = d
	}
	if fs.HoldAfterWrite != "" {
		d, err := time.ParseDuration(fs.HoldAfterWrite)
		if err != nil || d < 0 {
			problems = append(problems, fmt.Sprintf(`"holdAfterWrite" %q is not a duration like "2s" or "500ms"`, fs.HoldAfterWrite))
		}
		f.HoldAfterWrite = d
	}
	if fs.Status == 0 && f.Delay == 0 && !fs.DropAfterWrite && f.HoldAfterWrite == 0 {
		problems = append(problems, `the fault does nothing: set "status", "delay", "dropAfterWrite" or "holdAfterWrite"`)
	}
	if fs.Times < 0 {
		problems = append(problems, `"times" must be 0 (no limit) or more`)
	}
	if fs.Rate < 0 || fs.Rate > 1 {
		problems = append(problems, `"rate" must be between 0 and 1`)
	}
	if len(problems) > 0 {
		return Fault{}, errors.New(strings.Join(problems, "; "))
	}
	return f, nil
}

// Faults lists the faults in force, in the order they are tried.
func (s *Server) Faults() []FaultSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []FaultSpec{}
	for _, r := range s.faults {
		spec := FaultSpec{Pattern: r.pattern, Fault: r.fault, Left: r.left}
		if r.fault.Delay > 0 {
			spec.Delay = r.fault.Delay.String()
		}
		if r.fault.HoldAfterWrite > 0 {
			spec.HoldAfterWrite = r.fault.HoldAfterWrite.String()
		}
		out = append(out, spec)
	}
	return out
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	what := strings.Trim(strings.TrimPrefix(r.URL.Path, adminPrefix), "/")
	switch {
	case what == "faults" && r.Method == http.MethodGet:
		adminJSON(w, http.StatusOK, s.Faults())
	case what == "faults" && r.Method == http.MethodPost:
		s.addFaults(w, r)
	case what == "faults" && r.Method == http.MethodDelete:
		if p := r.URL.Query().Get("pattern"); p != "" {
			if !s.RemoveFault(p) {
				adminError(w, http.StatusNotFound, fmt.Sprintf("no fault has the pattern %q", p))
				return
			}
		} else {
			s.ClearFaults()
		}
		adminJSON(w, http.StatusOK, s.Faults())
	case what == "requests" && r.Method == http.MethodGet:
		adminJSON(w, http.StatusOK, orEmpty(s.Requests()))
	case what == "requests" && r.Method == http.MethodDelete:
		s.ClearRequests()
		w.WriteHeader(http.StatusNoContent)
	case what == "mail" && r.Method == http.MethodGet:
		adminJSON(w, http.StatusOK, orEmpty(s.SentMail()))
	case what == "mail" && r.Method == http.MethodDelete:
		s.ClearMail()
		w.WriteHeader(http.StatusNoContent)
	case what == "faults" || what == "requests" || what == "mail":
		adminError(w, http.StatusMethodNotAllowed, r.Method+" is not supported here; use GET, POST (faults only) or DELETE")
	default:
		adminError(w, http.StatusNotFound, "unknown control endpoint; there are /_fake/faults, /_fake/requests and /_fake/mail")
	}
}

// addFaults reads one FaultSpec or a list; nothing is added unless all are
// valid.
func (s *Server) addFaults(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		adminError(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return
	}
	var specs []FaultSpec
	if trimmed := strings.TrimSpace(string(raw)); strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(raw, &specs)
	} else {
		var one FaultSpec
		err = json.Unmarshal(raw, &one)
		specs = []FaultSpec{one}
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, "the body is not a fault (or a list of faults) as JSON: "+err.Error())
		return
	}
	faults := make([]Fault, len(specs))
	for i, spec := range specs {
		if faults[i], err = spec.fault(); err != nil {
			adminError(w, http.StatusBadRequest, fmt.Sprintf("fault %d: %v", i+1, err))
			return
		}
	}
	for i, spec := range specs {
		s.SetFault(spec.Pattern, faults[i])
	}
	adminJSON(w, http.StatusCreated, s.Faults())
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func adminError(w http.ResponseWriter, status int, msg string) {
	adminJSON(w, status, map[string]string{"error": msg})
}
