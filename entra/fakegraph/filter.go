package fakegraph

import (
	"fmt"
	"strings"
)

// The subset of OData $filter that Graph's /users supports without advanced
// queries and tapdesk needs: startswith(prop,'x') and prop eq 'x' (or a
// boolean), combined with and/or. Anything else is refused the way Graph
// refuses it.

// unsupportedQuery is a well-formed filter Graph will not run.
type unsupportedQuery string

func (e unsupportedQuery) Error() string { return string(e) }

type filterTerm struct {
	op, prop string
	value    any // string or bool
}

// filterExpr is an OR of ANDs.
type filterExpr [][]filterTerm

var filterProps = map[string]func(u *User) any{
	"id":                func(u *User) any { return u.ID },
	"displayName":       func(u *User) any { return u.DisplayName },
	"userPrincipalName": func(u *User) any { return u.UserPrincipalName },
	"mail":              func(u *User) any { return u.Mail },
	"givenName":         func(u *User) any { return u.GivenName },
	"surname":           func(u *User) any { return u.Surname },
	"userType":          func(u *User) any { return u.UserType },
	"accountEnabled":    func(u *User) any { return u.AccountEnabled },
}

func (f filterExpr) match(u *User) bool {
	for _, and := range f {
		all := true
		for _, t := range and {
			if !t.match(u) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (t filterTerm) match(u *User) bool {
	got := filterProps[t.prop](u)
	switch t.op {
	case "startswith":
		s, _ := got.(string)
		return strings.HasPrefix(strings.ToLower(s), strings.ToLower(t.value.(string)))
	case "eq":
		if s, ok := got.(string); ok {
			want, ok := t.value.(string)
			return ok && strings.EqualFold(s, want)
		}
		return got == t.value
	}
	return false
}

type filterToken struct {
	kind string // "ident", "string", "(", ")", ","
	text string
	pos  int
}

func lexFilter(src string) ([]filterToken, error) {
	var toks []filterToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, filterToken{kind: string(c), pos: i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, fmt.Errorf("Invalid filter clause: unterminated string literal at position %d in '%s'.", i, src)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' { // '' is an escaped quote
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, filterToken{kind: "string", text: b.String(), pos: i})
			i = j + 1
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" (),'", rune(src[j])) {
				j++
			}
			toks = append(toks, filterToken{kind: "ident", text: src[i:j], pos: i})
			i = j
		}
	}
	return toks, nil
}

func parseFilter(src string) (filterExpr, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, src: src}
	var expr filterExpr
	for {
		and, err := p.andGroup()
		if err != nil {
			return nil, err
		}
		expr = append(expr, and)
		if !p.keyword("or") {
			break
		}
	}
	if p.i < len(p.toks) {
		return nil, p.syntaxError()
	}
	return expr, nil
}

type filterParser struct {
	toks []filterToken
	i    int
	src  string
}

func (p *filterParser) peek() *filterToken {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

func (p *filterParser) expect(kind string) (filterToken, error) {
	t := p.peek()
	if t == nil || t.kind != kind {
		return filterToken{}, p.syntaxError()
	}
	p.i++
	return *t, nil
}

func (p *filterParser) keyword(kw string) bool {
	if t := p.peek(); t != nil && t.kind == "ident" && strings.EqualFold(t.text, kw) {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) syntaxError() error {
	pos := len(p.src)
	if t := p.peek(); t != nil {
		pos = t.pos
	}
	return fmt.Errorf("Invalid filter clause: Syntax error at position %d in '%s'.", pos, p.src)
}

func (p *filterParser) andGroup() ([]filterTerm, error) {
	var and []filterTerm
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		and = append(and, t)
		if !p.keyword("and") {
			return and, nil
		}
	}
}

func (p *filterParser) term() (filterTerm, error) {
	if p.keyword("startswith") {
		if _, err := p.expect("("); err != nil {
			return filterTerm{}, err
		}
		prop, err := p.property()
		if err != nil {
			return filterTerm{}, err
		}
		if _, err := p.expect(","); err != nil {
			return filterTerm{}, err
		}
		lit, err := p.expect("string")
		if err != nil {
			return filterTerm{}, err
		}
		if _, err := p.expect(")"); err != nil {
			return filterTerm{}, err
		}
		if prop == "accountEnabled" {
			return filterTerm{}, unsupportedQuery("Unsupported Query.")
		}
		return filterTerm{op: "startswith", prop: prop, value: lit.text}, nil
	}
	prop, err := p.property()
	if err != nil {
		return filterTerm{}, err
	}
	if !p.keyword("eq") {
		if t := p.peek(); t != nil && t.kind == "ident" {
			return filterTerm{}, unsupportedQuery("Unsupported Query.")
		}
		return filterTerm{}, p.syntaxError()
	}
	t := p.peek()
	switch {
	case t != nil && t.kind == "string":
		p.i++
		return filterTerm{op: "eq", prop: prop, value: t.text}, nil
	case t != nil && t.kind == "ident" && (t.text == "true" || t.text == "false"):
		p.i++
		return filterTerm{op: "eq", prop: prop, value: t.text == "true"}, nil
	}
	return filterTerm{}, p.syntaxError()
}

// property reads a property name; Graph refuses filtering on ones it does
// not index for simple queries.
func (p *filterParser) property() (string, error) {
	t, err := p.expect("ident")
	if err != nil {
		return "", err
	}
	for name := range filterProps {
		if strings.EqualFold(name, t.text) {
			return name, nil
		}
	}
	return "", unsupportedQuery("Unsupported or invalid query filter clause specified for property '" + t.text + "' of resource 'User'.")
}
