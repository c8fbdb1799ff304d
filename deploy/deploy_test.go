package deploy_test

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// releaseBinary is the binary scripts/build makes. CI builds it once before
// the tests (.ci/run) and names it in TAPDESK_RELEASE_BIN, so the cold
// -trimpath compile of the Graph SDK never runs beside the race build; on
// its own, the test runs scripts/build itself (minutes when the cache is
// cold). wantCommit is the commit it must be stamped with.
func releaseBinary(t *testing.T) (bin, wantCommit string) {
	t.Helper()
	releaseOnce.Do(func() {
		if bin := os.Getenv("TAPDESK_RELEASE_BIN"); bin != "" {
			out, err := exec.Command("git", "rev-parse", "HEAD").Output()
			if err != nil {
				release.err = "TAPDESK_RELEASE_BIN is set but git cannot name the commit it should carry: " + err.Error()
				return
			}
			release.bin, release.commit = bin, strings.TrimSpace(string(out))
			return
		}
		dir, err := os.MkdirTemp("", "tapdesk-release-")
		if err != nil {
			release.err = err.Error()
			return
		}
		release.dir = dir
		release.bin = filepath.Join(dir, "tapdesk")
		// A commit of our own, so the check does not depend on git.
		release.commit = "stamp-check-" + time.Now().UTC().Format("20060102T150405")
		cmd := exec.Command("bash", "../scripts/build", release.bin)
		cmd.Env = append(os.Environ(), "COMMIT="+release.commit, "VERSION=v0.0.0-stamp-check")
		if out, err := cmd.CombinedOutput(); err != nil {
			release.err = "scripts/build: " + err.Error() + "\n" + string(out)
		}
	})
	if release.err != "" {
		t.Fatal(release.err)
	}
	return release.bin, release.commit
}

var (
	releaseOnce sync.Once
	release     struct{ bin, commit, dir, err string }
)

func TestMain(m *testing.M) {
	code := m.Run()
	if release.dir != "" {
		os.RemoveAll(release.dir)
	}
	os.Exit(code)
}

// The release build is static (no interpreter, no dynamic section, no
// shared libraries: it runs on scratch or distroless/static), stripped, built
// as scripts/build says, and stamped: version prints the commit it was given.
func TestReleaseBuildIsStaticStrippedAndStamped(t *testing.T) {
	bin, commit := releaseBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is dynamically linked", bin, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	for _, s := range f.Sections {
		if s.Name == ".dynamic" || s.Name == ".interp" || s.Name == ".symtab" ||
			strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("%s has a %s section (want static and stripped)", bin, s.Name)
		}
	}

	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	// Go leaves -ldflags out of the build info under -trimpath; the
	// sections above show -s -w took effect.
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q: want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}

	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		fields[k] = strings.TrimSpace(v)
	}
	if got := fields["commit"]; got != commit && got != commit+"+dirty" {
		t.Errorf("version says commit %q, want %q: the -X names in scripts/build do not match cmd/tapdesk's variables\n%s", got, commit, out)
	}
	if fields["tapdesk"] == "devel" || fields["tapdesk"] == "" {
		t.Errorf("version names no version:\n%s", out)
	}
	if _, err := time.Parse(time.RFC3339, fields["built"]); err != nil {
		t.Errorf("version's build date %q is not a UTC time: %v", fields["built"], err)
	}
}

// knownSettings are the TAPDESK_* variables the binary reads, from its own
// help (secrets also as *_FILE), and which of them are secrets.
func knownSettings(t *testing.T, bin string) (known, secret map[string]bool) {
	t.Helper()
	known, secret = map[string]bool{}, map[string]bool{}
	env := regexp.MustCompile(`\(env (TAPDESK_[A-Z0-9_]+)( or (TAPDESK_[A-Z0-9_]+_FILE))?\)`)
	for _, args := range [][]string{{"serve", "--help"}, {"db", "backup", "--help"}} {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // --help exits 2
		for _, m := range env.FindAllStringSubmatch(out.String(), -1) {
			known[m[1]] = true
			if m[3] != "" {
				known[m[3]], secret[m[1]] = true, true
			}
		}
	}
	if !known["TAPDESK_DB"] || !known["TAPDESK_AUDIT_KEY_FILE"] {
		t.Fatalf("could not read the settings from %s serve --help", bin)
	}
	return known, secret
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var settingName = regexp.MustCompile(`\bTAPDESK_[A-Z0-9_]*[A-Z0-9]\b`)

// Every TAPDESK_* the deployment files name is a setting the binary reads:
// a renamed setting fails here rather than in someone's production.
func TestDeployFilesNameRealSettings(t *testing.T) {
	bin, _ := releaseBinary(t)
	known, _ := knownSettings(t, bin)
	files, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, ".go") {
			continue
		}
		for _, s := range settingName.FindAllString(read(t, name), -1) {
			if !known[s] && s != "TAPDESK_RELEASE_BIN" {
				t.Errorf("%s names %s, which tapdesk does not read", name, s)
			}
		}
	}
}

// keyValues reads KEY=VALUE lines (systemd unit, env file), keeping repeats.
func keyValues(text string) map[string][]string {
	kv := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = append(kv[k], v)
		}
	}
	return kv
}

// The systemd unit: hardened, its database inside its state directory, each
// credential it loads handed to a *_FILE setting, and enough time to stop.
func TestSystemdUnit(t *testing.T) {
	unit := keyValues(read(t, "tapdesk.service"))
	checkCredentials(t, "tapdesk.service", unit)
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "tapdesk", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "SystemCallFilter": "@system-service",
		"Restart": "on-failure", "ExecStart": "/usr/local/bin/tapdesk serve",
	} {
		if got := unit[k]; len(got) == 0 || got[0] != want {
			t.Errorf("%s=%v, want %q", k, got, want)
		}
	}
	db := unitEnv(unit)["TAPDESK_DB"]
	// ProtectSystem=strict leaves only the state directory writable.
	if !strings.HasPrefix(db, "/var/lib/"+unit["StateDirectory"][0]+"/") {
		t.Errorf("TAPDESK_DB=%q is outside the state directory /var/lib/%s, which is all the unit may write", db, unit["StateDirectory"][0])
	}
	stop, err := time.ParseDuration(unit["TimeoutStopSec"][0])
	if err != nil {
		t.Fatal(err)
	}
	if grace := shutdownGrace(t); stop <= grace {
		t.Errorf("TimeoutStopSec=%s is not longer than tapdesk's shutdown grace %s: systemd would kill requests in flight", stop, grace)
	}
}

// The backup unit reads the database tapdesk.service writes, as the same
// dynamic user, and verifies the chain with the same key.
func TestBackupUnit(t *testing.T) {
	serve := keyValues(read(t, "tapdesk.service"))
	backup := keyValues(read(t, "tapdesk-backup.service"))
	checkCredentials(t, "tapdesk-backup.service", backup)
	if db, want := unitEnv(backup)["TAPDESK_DB"], unitEnv(serve)["TAPDESK_DB"]; db != want {
		t.Errorf("the backup reads TAPDESK_DB=%q, tapdesk writes %q", db, want)
	}
	// A dynamic user is named after its unit unless User= says otherwise:
	// the backup must name tapdesk.service's to share its files.
	if u := backup["User"]; len(u) != 1 || u[0] != "tapdesk" || len(serve["User"]) != 0 {
		t.Errorf("the backup runs as User=%v, tapdesk.service as %v: they must be the same dynamic user", u, serve["User"])
	}
	if dirs := backup["StateDirectory"]; len(dirs) != 1 || !strings.Contains(" "+dirs[0]+" ", " "+serve["StateDirectory"][0]+" ") {
		t.Errorf("the backup's StateDirectory=%v lacks tapdesk's %v", dirs, serve["StateDirectory"])
	}
	if start := backup["ExecStart"]; len(start) != 1 || !strings.Contains(start[0], "tapdesk db backup --to ") {
		t.Errorf("the backup unit runs %v", start)
	}
}

func unitEnv(unit map[string][]string) map[string]string {
	env := map[string]string{}
	for _, e := range unit["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	return env
}

// checkCredentials: each credential a unit loads is read by a *_FILE
// setting, and each %d/NAME a setting names is loaded.
func checkCredentials(t *testing.T, name string, unit map[string][]string) {
	t.Helper()
	used := map[string]bool{}
	for _, v := range unitEnv(unit) {
		if cred, ok := strings.CutPrefix(v, "%d/"); ok {
			used[cred] = true
		}
	}
	for _, c := range unit["LoadCredential"] {
		cred, _, _ := strings.Cut(c, ":")
		if !used[cred] {
			t.Errorf("%s loads credential %s but no *_FILE setting reads it", name, cred)
		}
		delete(used, cred)
	}
	for cred := range used {
		t.Errorf("%s: a setting reads %%d/%s, which no LoadCredential provides", name, cred)
	}
}

// shutdownGrace is the default of TAPDESK_SHUTDOWN_GRACE from serve --help,
// or the grace tapdesk used before it was a setting.
func shutdownGrace(t *testing.T) time.Duration {
	bin, _ := releaseBinary(t)
	cmd := exec.Command(bin, "serve", "--help")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	m := regexp.MustCompile(`\(env TAPDESK_SHUTDOWN_GRACE\) \(default ([0-9a-z.]+)\)`).FindStringSubmatch(out.String())
	if m == nil {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatalf("shutdown grace default %q: %v", m[1], err)
	}
	return d
}

// The settings file holds no secret: those come through credentials.
func TestEnvFileHoldsNoSecrets(t *testing.T) {
	bin, _ := releaseBinary(t)
	_, secret := knownSettings(t, bin)
	for k := range keyValues(read(t, "tapdesk.env")) {
		if secret[k] {
			t.Errorf("tapdesk.env sets the secret %s: give it as a credential (%s_FILE) instead", k, k)
		}
	}
}

// The proxies send the client's address in the header tapdesk is told to
// read, to the address tapdesk listens on, from an address it trusts, and
// give each request an id.
func TestProxiesMatchTapdesk(t *testing.T) {
	env := map[string]string{}
	for k, v := range keyValues(read(t, "tapdesk.env")) {
		env[k] = v[0]
	}
	header, listen, trusted := env["TAPDESK_CLIENT_IP_HEADER"], env["TAPDESK_ADDR"], env["TAPDESK_TRUSTED_PROXIES"]
	if header == "" || listen == "" || trusted == "" {
		t.Fatal("tapdesk.env names no client-ip header, listen address or trusted proxy")
	}
	host, _, _ := strings.Cut(listen, ":")
	if !strings.Contains(trusted, host) {
		t.Errorf("the proxies reach tapdesk from %s, but TAPDESK_TRUSTED_PROXIES=%s does not trust it", host, trusted)
	}
	nginx := read(t, "nginx.conf")
	for _, want := range []string{"server " + listen + ";", "proxy_set_header " + header + " ", "proxy_set_header X-Request-Id "} {
		if !strings.Contains(nginx, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	caddy := read(t, "Caddyfile")
	// Caddy's reverse_proxy sets X-Forwarded-For itself (not X-Real-IP).
	if header != "X-Forwarded-For" {
		t.Errorf("Caddy sends the client in X-Forwarded-For, but tapdesk.env reads %s", header)
	}
	for _, want := range []string{"reverse_proxy " + listen, "header_up X-Request-Id "} {
		if !strings.Contains(caddy, want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}
}

// The image builds with scripts/build (so its flags cannot drift from the
// tested ones), on the Go that go.mod names, and its health check is a
// command the binary has.
func TestDockerfile(t *testing.T) {
	df := read(t, "Dockerfile")
	if !strings.Contains(df, "scripts/build /out/tapdesk") || regexp.MustCompile(`\bgo build\b`).MatchString(df) {
		t.Error("the Dockerfile must build with scripts/build, not a go build of its own")
	}
	gomod := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(read(t, "../go.mod"))
	arg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(df)
	if gomod == nil || arg == nil || gomod[1] != arg[1] {
		t.Errorf("Dockerfile GO_VERSION %v, go.mod go %v: keep them the same", arg, gomod)
	}
	for _, want := range []string{"VOLUME /data", "TAPDESK_DB=/data/", "USER nonroot", `"healthcheck"`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	bin, _ := releaseBinary(t)
	usage, _ := exec.Command(bin, "help").Output()
	if !strings.Contains(string(usage), "tapdesk healthcheck") {
		t.Errorf("the HEALTHCHECK runs tapdesk healthcheck, which %s does not list:\n%s", bin, usage)
	}
}

// The nginx sample loads on the nginx the distributions ship (Debian 12:
// 1.22, Ubuntu 24.04: 1.24): the "http2" directive only exists from 1.25.1,
// so HTTP/2 is switched on with the listen parameter.
func TestNginxLoadsOnDistributionVersions(t *testing.T) {
	for _, line := range strings.Split(read(t, "nginx.conf"), "\n") {
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) > 0 && (f[0] == "http2" || f[0] == "http2;") {
			t.Errorf("nginx.conf uses %q, which nginx before 1.25.1 refuses", strings.TrimSpace(line))
		}
	}
	if !strings.Contains(read(t, "nginx.conf"), "listen 443 ssl http2;") {
		t.Error("nginx.conf does not switch HTTP/2 on with the listen parameter")
	}
}
