package demoidp

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// carriedParams travel from GET /authorize through the picker's hidden fields
// to POST /authorize. The picker POSTs, per persona, exactly these fields
// plus "persona" (the persona's Key). POST validates them all again: hidden
// fields are as untrusted as the query.
var carriedParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age",
}

// singleParams must not repeat (RFC 6749 section 3.1).
var singleParams = append(slices.Clone(carriedParams), "login_hint", "persona")

// pkceValue is the RFC 7636 syntax shared by code_verifier and an S256
// code_challenge (43 characters, but the syntax allows up to 128).
var pkceValue = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authRequest is a validated authorization request.
type authRequest struct {
	form                  url.Values // as received, for prompt and max_age
	clientID, redirectURI string
	scopes                []string
	state, nonce          string
	challenge             string
	carried               []field // for the picker's hidden inputs, in carriedParams order
}

type field struct{ Name, Value string }

// authError is a refused authorization request. Until client_id and
// redirect_uri check out, the error is shown as a page (redirecting would make
// the provider an open redirector); after that it goes back to the client.
type authError struct {
	toClient    bool
	redirectURI string
	state       string
	code        string // OAuth error code
	description string
}

func (p *Provider) parseAuthRequest(form url.Values) (*authRequest, *authError) {
	page := func(desc string) *authError { return &authError{code: "invalid_request", description: desc} }
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(form[name]) > 1 {
			return nil, page(name + " given more than once")
		}
	}
	clientID, redirectURI := form.Get("client_id"), form.Get("redirect_uri")
	c, ok := p.client(clientID)
	if !ok {
		return nil, page("unknown client_id " + strconv.Quote(clientID))
	}
	if !slices.Contains(c.redirectURIs, redirectURI) {
		return nil, page("redirect_uri " + strconv.Quote(redirectURI) + " is not registered for this client")
	}

	toClient := func(code, desc string) *authError {
		return &authError{toClient: true, redirectURI: redirectURI, state: form.Get("state"), code: code, description: desc}
	}
	for _, name := range singleParams {
		if len(form[name]) > 1 {
			return nil, toClient("invalid_request", name+" given more than once")
		}
	}
	if rt := form.Get("response_type"); rt != "code" {
		return nil, toClient("unsupported_response_type", "only response_type=code is supported")
	}
	scopes := strings.Fields(form.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		return nil, toClient("invalid_scope", "scope must include openid")
	}
	challenge := form.Get("code_challenge")
	if challenge == "" {
		return nil, toClient("invalid_request", "code_challenge is required (PKCE)")
	}
	if form.Get("code_challenge_method") != "S256" {
		return nil, toClient("invalid_request", "code_challenge_method must be S256")
	}
	if !pkceValue.MatchString(challenge) {
		return nil, toClient("invalid_request", "code_challenge is malformed")
	}
	if v := form.Get("max_age"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return nil, toClient("invalid_request", "max_age must be a non-negative integer")
		}
	}
	req := &authRequest{
		form:        form,
		clientID:    clientID,
		redirectURI: redirectURI,
		scopes:      scopes,
		state:       form.Get("state"),
		nonce:       form.Get("nonce"),
		challenge:   challenge,
	}
	for _, name := range carriedParams {
		if v := form.Get(name); v != "" {
			req.carried = append(req.carried, field{name, v})
		}
	}
	return req, nil
}

// serveAuthorize shows the persona picker. login_hint (a key, UPN or email)
// or persona (a key) preselects a persona: its button gets the focus.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req, aerr := p.parseAuthRequest(q)
	if aerr != nil {
		p.refuse(w, r, aerr)
		return
	}
	now := p.now()
	s, ps, signedIn := p.session(r, now)
	signedIn = signedIn && reusable(q, s, now)
	// prompt=none: answer from the provider's session or not at all.
	if slices.Contains(strings.Fields(q.Get("prompt")), "none") {
		if !signedIn {
			p.refuse(w, r, &authError{toClient: true, redirectURI: req.redirectURI, state: req.state,
				code: "login_required", description: "nobody is signed in at the demo provider"})
			return
		}
		p.redirect(w, r, req.redirectURI, url.Values{"code": {p.issueCode(req, ps, s.authTime)}, "state": {req.state}})
		return
	}
	hint := q.Get("persona")
	if hint == "" {
		hint = q.Get("login_hint")
	}
	page := pickerPage{
		ClientID: req.clientID,
		Hidden:   req.carried,
		Personas: p.personaViews(hint),
	}
	if signedIn {
		page.Continue = &personaView{Key: ps.Key, Name: ps.Name, UPN: ps.UPN}
	}
	p.renderPicker(w, http.StatusOK, page)
}

// serveAuthorizeSubmit signs in as the chosen persona: a one-time code bound
// to the client, redirect URI, PKCE challenge, nonce and persona, handed to
// the client by a 302 to redirect_uri?code=...&state=....
//
// No CSRF token here: a forged submission can only deliver a code, with the
// attacker's state, to the victim's own callback, where the relying party's
// state check refuses it.
func (p *Provider) serveAuthorizeSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.refuse(w, r, &authError{code: "invalid_request", description: "unreadable form"})
		return
	}
	req, aerr := p.parseAuthRequest(r.PostForm)
	if aerr != nil {
		p.refuse(w, r, aerr)
		return
	}
	now := p.now()
	if r.PostForm.Get("continue") == "1" {
		// Continue the session at the provider: same person, same auth_time.
		s, ps, ok := p.session(r, now)
		if !ok || !reusable(r.PostForm, s, now) {
			p.renderPicker(w, http.StatusBadRequest, pickerPage{
				Error:    "You are no longer signed in here, or this sign-in needs you to authenticate again. Pick one of the people below.",
				ClientID: req.clientID,
				Hidden:   req.carried,
				Personas: p.personaViews(""),
			})
			return
		}
		p.redirect(w, r, req.redirectURI, url.Values{"code": {p.issueCode(req, ps, s.authTime)}, "state": {req.state}})
		return
	}
	persona, ok := p.persona(r.PostForm.Get("persona"))
	if !ok {
		p.renderPicker(w, http.StatusBadRequest, pickerPage{
			Error:    "Pick one of the people below.",
			ClientID: req.clientID,
			Hidden:   req.carried,
			Personas: p.personaViews(""),
		})
		return
	}
	code := p.issueCode(req, persona, now)
	p.startSession(w, persona.Key, now)
	p.redirect(w, r, req.redirectURI, url.Values{"code": {code}, "state": {req.state}})
}

// refuse answers a bad authorization request: a page when the client or
// redirect URI is in doubt, else an error redirect to the client.
func (p *Provider) refuse(w http.ResponseWriter, r *http.Request, e *authError) {
	if !e.toClient {
		p.renderPicker(w, http.StatusBadRequest, pickerPage{Error: "The application's sign-in request was refused: " + e.description + "."})
		return
	}
	p.redirect(w, r, e.redirectURI, url.Values{"error": {e.code}, "error_description": {e.description}, "state": {e.state}})
}

// redirect sends the browser to the client's redirect URI with params added
// to any query the registered URI already has.
func (p *Provider) redirect(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		p.renderPicker(w, http.StatusBadRequest, pickerPage{Error: "The registered redirect URI is not a valid URL."})
		return
	}
	q := u.Query()
	for k, v := range params {
		if len(v) == 1 && v[0] == "" {
			continue // e.g. no state was sent: send none back
		}
		q[k] = v
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// authCode is what an authorization code stands for until redeemed.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      []string
	persona     Persona
	authTime    time.Time
	expires     time.Time
	used        bool // kept until expiry so a second use is refused by name
}

func (p *Provider) issueCode(req *authRequest, persona Persona, authTime time.Time) string {
	now := p.now()
	code := randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.codes {
		if now.After(c.expires) {
			delete(p.codes, k)
		}
	}
	p.codes[code] = &authCode{
		clientID:    req.clientID,
		redirectURI: req.redirectURI,
		challenge:   req.challenge,
		nonce:       req.nonce,
		scopes:      req.scopes,
		persona:     persona,
		authTime:    authTime,
		expires:     now.Add(CodeLifetime),
	}
	return code
}
