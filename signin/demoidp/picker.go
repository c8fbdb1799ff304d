package demoidp

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// pickerPage is the view model of the picker and of its error variant (Error
// set, no Personas).
type pickerPage struct {
	Error      string
	ClientID   string
	Action     string  // form action: full path of POST /authorize
	Stylesheet string  // full path of /style.css
	Hidden     []field // carried authorization parameters
	Personas   []personaView
	Continue   *personaView // who is signed in at the provider, if reusable
}

type personaView struct {
	Key, Name, UPN, Roles, Description string
	Selected                           bool
}

func (p *Provider) personaViews(hint string) []personaView {
	p.mu.Lock()
	defer p.mu.Unlock()
	views := make([]personaView, 0, len(p.personas))
	for _, ps := range p.personas {
		roles := strings.Join(ps.Roles, ", ")
		if roles == "" {
			roles = "no tapdesk role"
		}
		views = append(views, personaView{
			Key:         ps.Key,
			Name:        ps.Name,
			UPN:         ps.UPN,
			Roles:       roles,
			Description: ps.Description,
			Selected: hint != "" && (hint == ps.Key ||
				strings.EqualFold(hint, ps.UPN) || strings.EqualFold(hint, ps.Email)),
		})
	}
	return views
}

// The stylesheet is served from /style.css rather than inlined so the page
// needs no CSP nonce: the main server's CSP (style-src 'self') and ours agree.
var picker = template.Must(template.New("picker").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo sign-in</title>
<link rel="stylesheet" href="{{.Stylesheet}}">
</head>
<body>
<main>
<h1>Demo sign-in</h1>
<p class="demo" role="note"><strong>DEMO</strong> This page stands in for Microsoft Entra ID. Pick who you want to be; no password is asked and nobody here is real.</p>
{{- if .Error}}
<p class="error" role="alert">{{.Error}}</p>
{{- end}}
{{- with .Continue}}
<p>You are signed in here as {{.Name}}.</p>
<form method="post" action="{{$.Action}}">
{{- range $.Hidden}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}
<input type="hidden" name="continue" value="1">
<button type="submit" data-testid="continue-{{.Key}}"><span class="name">Continue as {{.Name}}</span><span class="upn">{{.UPN}}</span></button>
</form>
{{- end}}
{{- if .Personas}}
<p>Signing in to <code>{{.ClientID}}</code> as:</p>
<ul class="personas">
{{- range .Personas}}
<li>
<form method="post" action="{{$.Action}}">
{{- range $.Hidden}}
<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{- end}}
<input type="hidden" name="persona" value="{{.Key}}">
<button type="submit" data-testid="persona-{{.Key}}"{{if .Selected}} autofocus aria-current="true"{{end}}>
<span class="name">{{.Name}}</span>
<span class="upn">{{.UPN}}</span>
<span class="roles">{{.Roles}}</span>
<span class="desc">{{.Description}}</span>
</button>
</form>
</li>
{{- end}}
</ul>
{{- end}}
</main>
</body>
</html>
`))

// renderPicker renders to a buffer first so a template failure is a clean
// 500, and sets headers fit for a sign-in page: no caching, no framing
// (clickjacking a persona button), no referrer leaking the query.
func (p *Provider) renderPicker(w http.ResponseWriter, status int, page pickerPage) {
	page.Action = p.prefix + "/authorize"
	page.Stylesheet = p.prefix + "/style.css"
	var buf bytes.Buffer
	if err := picker.Execute(&buf, page); err != nil {
		http.Error(w, "demoidp: rendering the picker failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

const style = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1d21}
main{max-width:40rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.6rem}
.demo{background:#fff3b0;border:2px solid #b38600;padding:.75rem 1rem;border-radius:6px}
.demo strong{background:#7a5c00;color:#fff;padding:0 .4rem;border-radius:3px;margin-right:.4rem}
.error{background:#fde8e8;border:2px solid #b42318;padding:.75rem 1rem;border-radius:6px}
.personas{list-style:none;padding:0}
.personas li{margin:.6rem 0}
button{display:block;width:100%;text-align:left;font:inherit;color:inherit;background:#fff;border:1px solid #8a8f98;border-radius:6px;padding:.75rem 1rem;cursor:pointer}
button:hover{border-color:#1b1d21}
button:focus-visible,button[aria-current]{outline:3px solid #0b57d0;outline-offset:2px}
button span{display:block}
.name{font-weight:600}
.upn,.roles{font-size:.9rem;color:#3d4149}
.roles{font-family:ui-monospace,monospace}
.desc{margin-top:.25rem}
`

func serveStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(style))
}
