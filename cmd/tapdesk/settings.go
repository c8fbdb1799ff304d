package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tapdesk/tapdesk/store"
)

// setting is one configuration value: a flag, the TAPDESK_* variable of the
// same name, and for secrets a *_FILE variable naming a file to read.
type setting struct {
	flag     string
	env      string
	def      string
	usage    string
	secret   bool
	required bool
	group    string // the heading it is listed under in docs/CONFIGURATION.md
	// shown is the value as describe reports it (nil: as it is); a
	// database URL drops its password.
	shown func(string) string
	value string
	set   bool
}

// settings parses flags, then fills everything not given on the command
// line from the environment. Flags win over the environment.
type settings struct {
	fs    *flag.FlagSet
	list  []*setting
	by    map[string]*setting
	group string // given to the settings added next
}

func newSettings(name string) *settings {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &settings{fs: fs, by: map[string]*setting{}}
}

// section names the group the settings declared after it belong to, for
// the configuration reference; it changes nothing else.
func (s *settings) section(name string) { s.group = name }

func (s *settings) add(st *setting) {
	st.group = s.group
	st.env = "TAPDESK_" + strings.ToUpper(strings.ReplaceAll(st.flag, "-", "_"))
	usage := st.usage + " (env " + st.env
	if st.secret {
		usage += " or " + st.env + "_FILE"
	}
	usage += ")"
	if st.required {
		usage += " [required]"
	}
	s.fs.Func(st.flag, usage+defaultNote(st), func(v string) error { st.value, st.set = v, true; return nil })
	s.list = append(s.list, st)
	s.by[st.flag] = st
}

func defaultNote(st *setting) string {
	if st.def == "" || st.secret {
		return ""
	}
	return " (default " + st.def + ")"
}

func (s *settings) str(flagName, def, usage string) {
	s.add(&setting{flag: flagName, def: def, usage: usage})
}

// dbUsage describes --db / TAPDESK_DB wherever a command takes it.
const dbSettingUsage = "the database: a SQLite file, or a PostgreSQL URL postgres://user:password@host:5432/tapdesk?sslmode=verify-full (see PostgreSQL in the README)"

// database declares the database setting; its value is reported without
// a URL's password.
func (s *settings) database() {
	s.add(&setting{flag: "db", def: "tapdesk.db", usage: dbSettingUsage, shown: store.DisplayDSN})
}

func (s *settings) required(flagName, usage string) {
	s.add(&setting{flag: flagName, usage: usage, required: true})
}

func (s *settings) secret(flagName, usage string, required bool) {
	s.add(&setting{flag: flagName, usage: usage, secret: true, required: required})
}

// parse reads flags and the environment and returns every problem at once.
func (s *settings) parse(args []string, getenv func(string) string) error {
	problems, err := s.load(args, getenv)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &configError{problems}
	}
	return nil
}

// load is parse that hands back the problems, so callers can add their own
// checks and still report everything in one go.
func (s *settings) load(args []string, getenv func(string) string) (problems []string, err error) {
	if err := s.fs.Parse(args); err != nil {
		return nil, err
	}
	for _, st := range s.list {
		if !st.set {
			if v := getenv(st.env); v != "" {
				st.value, st.set = v, true
			} else if file := getenv(st.env + "_FILE"); st.secret && file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s_FILE: cannot read %s: %v", st.env, file, err))
					continue
				}
				st.value, st.set = strings.TrimSpace(string(b)), true
			}
		}
		if !st.set {
			st.value = st.def
		}
		if st.required && st.value == "" {
			hint := ""
			if st.secret {
				hint = " or " + st.env + "_FILE"
			}
			problems = append(problems, fmt.Sprintf("%s (--%s%s) is not set: %s", st.env, st.flag, hint, st.usage))
		}
	}
	return problems, nil
}

func (s *settings) get(flagName string) string { return s.by[flagName].value }

// duration reads a setting as a Go duration, recording a problem if bad.
func (s *settings) duration(flagName string, problems *[]string) time.Duration {
	v := s.get(flagName)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		*problems = append(*problems, fmt.Sprintf("%s: %q is not a duration like 30m or 24h", s.by[flagName].env, v))
	}
	return d
}

// list splits a comma-separated setting.
func (s *settings) listOf(flagName string) []string {
	var out []string
	for _, p := range strings.Split(s.get(flagName), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// describe lists the settings for the start-up audit event, without secrets.
func (s *settings) describe() map[string]string {
	out := map[string]string{}
	for _, st := range s.list {
		switch {
		case st.secret && st.value != "":
			out[st.env] = "(set)"
		case st.secret:
			out[st.env] = "(not set)"
		case st.shown != nil:
			out[st.env] = st.shown(st.value)
		default:
			out[st.env] = st.value
		}
	}
	return out
}

type configError struct{ problems []string }

func (e *configError) Error() string {
	sort.Strings(e.problems)
	return "tapdesk cannot start; fix these settings:\n  - " + strings.Join(e.problems, "\n  - ")
}
