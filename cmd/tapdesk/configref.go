package main

//go:generate go run . config-reference -o ../../docs/CONFIGURATION.md

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tapdesk/tapdesk"
)

// configReferenceFile is where the reference lives, from the repository root.
const configReferenceFile = "docs/CONFIGURATION.md"

// runConfigReference writes docs/CONFIGURATION.md (or stdout) from the
// settings' own definitions; `go generate ./cmd/tapdesk` runs it, and a
// test fails when the committed file differs. Not in the usage text: it is
// a tool for tapdesk's own repository.
func runConfigReference(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("config-reference", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ref, err := configReference()
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(ref)
		return err
	}
	return os.WriteFile(*out, ref, 0o644)
}

// configReference renders the whole reference as markdown.
func configReference() ([]byte, error) {
	var b bytes.Buffer
	s := serveSettings()
	docs := serveSettingDocs()
	for flagName := range docs {
		if s.by[flagName] == nil {
			return nil, fmt.Errorf("serveSettingDocs explains --%s, which serve does not have", flagName)
		}
	}

	b.WriteString("# Configuration reference\n\n")
	b.WriteString("<!-- Generated from the settings in cmd/tapdesk (serve.go, settings_doc.go) by\n" +
		"     `go generate ./cmd/tapdesk`. Do not edit: a test fails when this file and the code disagree. -->\n\n")
	b.WriteString("`tapdesk serve` reads each setting from its flag or, when the flag is not given, from its\n" +
		"`TAPDESK_*` environment variable; a flag wins, and an empty variable counts as not set.\n" +
		"A secret (marked below) can instead be read from a file named by the variable with `_FILE`\n" +
		"appended, e.g. `TAPDESK_AUDIT_KEY_FILE=/run/secrets/audit-key`; surrounding whitespace is\n" +
		"trimmed. Secrets are never shown as defaults, and the start-up audit event records only\n" +
		"whether each is set. `serve` refuses to start while a setting is missing or malformed, and\n" +
		"names every such setting at once. `tapdesk serve --help` lists the same flags.\n\n")

	var groups []string
	byGroup := map[string][]*setting{}
	for _, st := range s.list {
		g := st.group
		if g == "" {
			g = "Other"
		}
		if byGroup[g] == nil {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], st)
	}
	b.WriteString("Contents:\n\n")
	for _, g := range groups {
		fmt.Fprintf(&b, "- [%s](#%s)\n", g, anchor(g))
	}
	b.WriteString("- [Rate limits](#rate-limits)\n- [Other commands](#other-commands)\n\n")

	for _, g := range groups {
		fmt.Fprintf(&b, "## %s\n\n", g)
		b.WriteString("| Variable | Flag | Default | Meaning |\n|---|---|---|---|\n")
		var explained []*setting
		for _, st := range byGroup[g] {
			env := "`" + st.env + "`"
			if st.secret {
				env += " or `" + st.env + "_FILE`"
			}
			def := "`" + st.def + "`"
			switch {
			case st.required:
				def = "**required**"
			case st.def == "":
				def = "(empty)"
			}
			meaning := cell(st.usage)
			if st.secret {
				meaning += " *(secret)*"
			}
			if docs[st.flag] != "" {
				meaning += fmt.Sprintf(" ([more](#%s))", anchor(st.env))
				explained = append(explained, st)
			}
			fmt.Fprintf(&b, "| %s | `--%s` | %s | %s |\n", env, st.flag, def, meaning)
		}
		b.WriteString("\n")
		for _, st := range explained {
			fmt.Fprintf(&b, "### %s\n\n%s\n\n", st.env, docs[st.flag])
		}
	}

	if err := rateLimitReference(&b); err != nil {
		return nil, err
	}
	if err := commandReference(&b); err != nil {
		return nil, err
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), nil
}

// rateLimitReference renders the default limits from tapdesk.DefaultRateLimits.
func rateLimitReference(b *bytes.Buffer) error {
	counts := rateActionCounts()
	b.WriteString("## Rate limits\n\n")
	b.WriteString("Each limited action has a limit per signed-in person and one per client address (an\n" +
		"IPv4 address, or an IPv6 /64). A limit `COUNT/WINDOW` lets `COUNT` through at once and then\n" +
		"one more every `WINDOW/COUNT`, so over the limit means at least `COUNT` in the last `WINDOW`.\n" +
		"Over it, tapdesk answers 429 with `Retry-After` and a page saying when to try again, and\n" +
		"writes one `Refuse over rate limit` audit event per limit, person or address and window.\n" +
		"The address limits are wider because everyone behind one office NAT or proxy shares an\n" +
		"address; set `TAPDESK_TRUSTED_PROXIES` so the address is the client's, not the proxy's.\n" +
		"`TAPDESK_RATE_LIMITS` changes them. The defaults:\n\n")
	b.WriteString("| Action (`TAPDESK_RATE_LIMITS` name) | What it counts | Per person | Per address |\n|---|---|---|---|\n")
	limits := tapdesk.DefaultRateLimits()
	for _, l := range limits {
		if l.Scope != tapdesk.PerPerson {
			continue
		}
		what := counts[l.Action]
		if what == "" {
			return fmt.Errorf("rateActionCounts does not say what %q counts", l.Action)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", l.Action, what,
			limits.For(l.Action, tapdesk.PerPerson), limits.For(l.Action, tapdesk.PerAddress))
	}
	fmt.Fprintf(b, "\nOn PostgreSQL the limits are counted in the database, so instances behind a load\n"+
		"balancer count together; the sweep deletes the rows of limits that are whole again. On\n"+
		"SQLite (one instance) they are counted in memory: signed-in people each keep their own\n"+
		"count; at most %s addresses are held at once, and addresses arriving while that many are\n"+
		"in use share one count per limit, %d times an address's, so a flood from fresh addresses\n"+
		"is held to it while a newcomer is paced rather than locked out. `tapdesk demo` keeps\n"+
		"these limits.\n\n",
		thousands(tapdesk.RateMaxAddressKeys), tapdesk.RateOverflowShare)
	return nil
}

// commandReference renders the flags of the other commands from their own
// --help, so a flag added there shows here without more work.
func commandReference(b *bytes.Buffer) error {
	b.WriteString("## Other commands\n\n")
	b.WriteString("Their flags, as each command's `--help` prints them. The audit and db commands read\n" +
		"`TAPDESK_DB`, `TAPDESK_AUDIT_KEY` and `TAPDESK_AUDIT_OLD_KEYS` (or `_FILE`) as `serve` does,\n" +
		"where a flag below names them; `tapdesk version` takes no flags.\n\n")
	noEnv := func(string) string { return "" }
	for _, c := range []struct {
		title string
		args  []string
	}{
		{"tapdesk demo", []string{"demo", "-h"}},
		{"tapdesk audit verify", []string{"audit", "verify", "-h"}},
		{"tapdesk audit export", []string{"audit", "export", "-h"}},
		{"tapdesk audit prune", []string{"audit", "prune", "-h"}},
		{"tapdesk audit seed", []string{"audit", "seed", "-h"}},
		{"tapdesk audit public-key", []string{"audit", "public-key", "-h"}},
		{"tapdesk audit evidence", []string{"audit", "evidence", "-h"}},
		{"tapdesk audit check-evidence", []string{"audit", "check-evidence", "-h"}},
		{"tapdesk migrate", []string{"migrate", "-h"}},
		{"tapdesk db backup", []string{"db", "backup", "-h"}},
		{"tapdesk db copy", []string{"db", "copy", "-h"}},
		{"tapdesk healthcheck", []string{"healthcheck", "-h"}},
	} {
		var help bytes.Buffer
		err := run(context.Background(), c.args, noEnv, io.Discard, &help)
		if !errors.Is(err, flag.ErrHelp) {
			return fmt.Errorf("%s -h: expected its help, got %v", c.title, err)
		}
		text := strings.TrimSpace(help.String())
		// "Usage of demo:" names the flag set; the heading names the command.
		if first, rest, ok := strings.Cut(text, "\n"); ok && strings.HasPrefix(first, "Usage of ") {
			text = rest
		}
		fmt.Fprintf(b, "### %s\n\n```\n%s\n```\n\n", c.title, text)
	}
	return nil
}

// thousands writes 100000 as 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// cell makes text safe inside a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", `\<`, ">", `\>`, "\n", " ").Replace(s)
}

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
