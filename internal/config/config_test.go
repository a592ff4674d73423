package config

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// testEnv returns an environment whose home is a fresh temporary directory,
// so no test ever looks at the real ~/.claude.
func testEnv(t *testing.T, kv ...string) (home string, environ []string) {
	t.Helper()
	home = t.TempDir()
	return home, append([]string{"HOME=" + home}, kv...)
}

func mustLoad(t *testing.T, dotenv string, environ []string) Config {
	t.Helper()
	c, err := Load(dotenv, environ)
	if err != nil {
		t.Fatalf("Load(%q) = %v", dotenv, err)
	}
	return c
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	home, env := testEnv(t)
	c := mustLoad(t, filepath.Join(home, "missing.env"), env)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() of defaults = %v", err)
	}
	want := Default()
	want.Home = home
	want.ClaudeDirs = []string{filepath.Join(home, ".claude")}
	want.DatabasePath = filepath.Join(home, ".local", "share", "claude-token-monitor", "monitor.db")
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load() = %#v\nwant %#v", c, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Host", c.Host, "127.0.0.1"},
		{"Port", c.Port, 51888},
		{"APIPrefix", c.APIPrefix, "/api/v1"},
		{"LogLevel", c.LogLevel, "INFO"},
		{"LogFormat", c.LogFormat, ""},
		{"Timezone", c.Timezone, "Local"},
		{"Location", c.Location, time.Local},
		{"SnapshotInterval", c.SnapshotInterval, 30 * time.Minute},
		{"RetentionDays", c.RetentionDays, 90},
		{"MaxWSClients", c.MaxWSClients, 100},
		{"PollInterval", c.PollInterval, 2 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("default %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadClaudeDirsAndDatabasePath(t *testing.T) {
	tests := []struct {
		name     string
		existing []string // created under home
		env      []string // "~" is replaced by home
		wantDirs []string
		wantDB   string
	}{
		{"only ~/.claude exists", []string{".claude"}, nil,
			[]string{"~/.claude"}, "~/.local/share/claude-token-monitor/monitor.db"},
		{"only ~/.config/claude exists", []string{".config/claude"}, nil,
			[]string{"~/.config/claude"}, ""},
		{"both exist", []string{".claude", ".config/claude"}, nil,
			[]string{"~/.claude", "~/.config/claude"}, ""},
		{"neither exists", nil, nil, []string{"~/.claude"}, ""},
		{"CLAUDE_CONFIG_DIR when CLAUDE_DIR unset", []string{".claude"},
			[]string{"CLAUDE_CONFIG_DIR=/a, /b"}, []string{"/a", "/b"}, ""},
		{"CLAUDE_DIR wins over CLAUDE_CONFIG_DIR", nil,
			[]string{"CLAUDE_CONFIG_DIR=/a", "CLAUDE_DIR=/c,,~/d"}, []string{"/c", "~/d"}, ""},
		{"empty CLAUDE_DIR is unset", []string{".claude"},
			[]string{"CLAUDE_DIR="}, []string{"~/.claude"}, ""},
		{"XDG_DATA_HOME", nil, []string{"XDG_DATA_HOME=/xdg"}, nil, "/xdg/claude-token-monitor/monitor.db"},
		{"DATABASE_PATH with ~", nil, []string{"XDG_DATA_HOME=/xdg", "DATABASE_PATH=~/my.db"}, nil, "~/my.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, env := testEnv(t, tt.env...)
			for _, d := range tt.existing {
				mkdir(t, filepath.Join(home, d))
			}
			c := mustLoad(t, "", env)
			expand := func(p string) string {
				if rest, ok := strings.CutPrefix(p, "~/"); ok {
					return filepath.Join(home, rest)
				}
				return p
			}
			if tt.wantDirs != nil {
				var want []string
				for _, d := range tt.wantDirs {
					want = append(want, expand(d))
				}
				if !slices.Equal(c.ClaudeDirs, want) {
					t.Errorf("ClaudeDirs = %q, want %q", c.ClaudeDirs, want)
				}
			}
			if tt.wantDB != "" && c.DatabasePath != expand(tt.wantDB) {
				t.Errorf("DatabasePath = %q, want %q", c.DatabasePath, expand(tt.wantDB))
			}
		})
	}
}

func TestLoadAllVariables(t *testing.T) {
	home, env := testEnv(t,
		"CLAUDE_DIR=~/a,/b",
		"DATABASE_PATH=~/db/monitor.db",
		"DATABASE_URL=postgres://u:pw@db:5432/ctm",
		"HOST=0.0.0.0",
		"BACKEND_PORT=8080",
		"API_PREFIX=/api/v2",
		"LOG_LEVEL=warning",
		"LOG_FORMAT=JSON",
		"LOG_FILE=~/logs/ctm.log",
		"CORS_ORIGINS=[\"http://localhost:3000/\", \"https://x.example\"]",
		"TIMEZONE=Asia/Tokyo",
		"SNAPSHOT_INTERVAL=1h",
		"RETENTION_DAYS=7",
		"PRICING_FILE=~/prices.json",
		"BUDGETS_FILE=~/budgets.toml",
		"AUTH_TOKEN=s3cret",
		"ALLOW_REMOTE=yes",
		"PLAN=Max20",
		"TOKEN_LIMIT=max",
		"COST_LIMIT=12.5",
		"WS_MAX_CLIENTS=5",
		"POLL_INTERVAL=500ms",
	)
	c := mustLoad(t, "", env)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	want := Config{
		ClaudeDirs:       []string{filepath.Join(home, "a"), "/b"},
		DatabasePath:     filepath.Join(home, "db", "monitor.db"),
		DatabaseURL:      "postgres://u:pw@db:5432/ctm",
		Host:             "0.0.0.0",
		Port:             8080,
		APIPrefix:        "/api/v2",
		LogLevel:         "WARN",
		LogFormat:        "json",
		LogFile:          filepath.Join(home, "logs", "ctm.log"),
		CORSOrigins:      []string{"http://localhost:3000", "https://x.example"},
		Timezone:         "Asia/Tokyo",
		Location:         tokyo,
		SnapshotInterval: time.Hour,
		RetentionDays:    7,
		PricingFile:      filepath.Join(home, "prices.json"),
		BudgetsFile:      filepath.Join(home, "budgets.toml"),
		AuthToken:        "s3cret",
		AllowRemote:      true,
		Plan:             "max20",
		TokenLimit:       TokenLimitMax,
		CostLimit:        12.5,
		MaxWSClients:     5,
		PollInterval:     500 * time.Millisecond,
		PricingURL:       DefaultPricingURL,
		Home:             home,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load() =\n%#v\nwant\n%#v", c, want)
	}
}

func TestPrecedence(t *testing.T) {
	home, env := testEnv(t, "BACKEND_PORT=2000", "LOG_LEVEL=error")
	dotenv := writeFile(t, filepath.Join(home, ".env"),
		"# settings\nexport BACKEND_PORT=1000\nHOST=localhost\nLOG_LEVEL=debug\nRETENTION_DAYS=3\n")

	c := mustLoad(t, dotenv, env)
	if c.Port != 2000 || c.Host != "localhost" || c.LogLevel != "error" || c.RetentionDays != 3 {
		t.Errorf("after .env and env: port %d host %q level %q retention %d; want 2000 localhost error 3",
			c.Port, c.Host, c.LogLevel, c.RetentionDays)
	}

	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--port", "3000", "--tz", "UTC"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if c.Port != 3000 || c.Host != "localhost" || c.LogLevel != "ERROR" || c.Location != time.UTC {
		t.Errorf("after flags: port %d host %q level %q zone %v; want 3000 localhost ERROR UTC",
			c.Port, c.Host, c.LogLevel, c.Location)
	}
}

func TestTimezone(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	tests := []struct {
		name     string
		env      []string
		wantName string
		wantLoc  *time.Location
	}{
		{"unset is local", nil, "Local", time.Local},
		{"TIMEZONE", []string{"TIMEZONE=Europe/Paris"}, "Europe/Paris", paris},
		{"TZ fallback", []string{"TZ=Asia/Tokyo"}, "Asia/Tokyo", tokyo},
		{"TZ with POSIX colon", []string{"TZ=:Europe/Paris"}, "Europe/Paris", paris},
		{"TIMEZONE wins over TZ", []string{"TZ=Asia/Tokyo", "TIMEZONE=UTC"}, "UTC", time.UTC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := testEnv(t, tt.env...)
			c := mustLoad(t, "", env)
			if c.Timezone != tt.wantName || c.Location.String() != tt.wantLoc.String() {
				t.Errorf("zone = %q, %v; want %q, %v", c.Timezone, c.Location, tt.wantName, tt.wantLoc)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want string
	}{
		{"port", "BACKEND_PORT=abc", `BACKEND_PORT: "abc" is not a port number (1-65535, or 0 for any free port)`},
		{"bool", "DEBUG=maybe", `DEBUG: "maybe" is not a boolean (true or false)`},
		{"allow remote", "ALLOW_REMOTE=2", `ALLOW_REMOTE: "2" is not a boolean`},
		{"duration", "SNAPSHOT_INTERVAL=30", `SNAPSHOT_INTERVAL: "30" is not a duration`},
		{"poll", "POLL_INTERVAL=soon", `POLL_INTERVAL: "soon" is not a duration`},
		{"retention", "RETENTION_DAYS=ten", `RETENTION_DAYS: "ten" is not a whole number`},
		{"ws clients", "WS_MAX_CLIENTS=1.5", `WS_MAX_CLIENTS: "1.5" is not a whole number`},
		{"token limit", "TOKEN_LIMIT=lots", `TOKEN_LIMIT: "lots" is not a token count or "max"`},
		{"negative token limit", "TOKEN_LIMIT=-5", `TOKEN_LIMIT: "-5" is not a token count`},
		{"cost limit", "COST_LIMIT=$5", `COST_LIMIT: "$5" is not a number`},
		{"cors json", `CORS_ORIGINS=["a",`, `CORS_ORIGINS: "[\"a\"," is not a JSON list of strings`},
		{"timezone", "TIMEZONE=Mars/Olympus", `TIMEZONE: "Mars/Olympus" is not a time zone name`},
		{"tz", "TZ=Nowhere/City", `TZ: "Nowhere/City" is not a time zone name`},
		{"auth token file", "AUTH_TOKEN_FILE=/does/not/exist", `AUTH_TOKEN_FILE: "/does/not/exist" cannot be read: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := testEnv(t, tt.env)
			_, err := Load("", env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%s) error = %v, want %q", tt.env, err, tt.want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("Load(%s) error %T is not a *ValidationError", tt.env, err)
			}
		})
	}
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	_, env := testEnv(t, "BACKEND_PORT=x", "DEBUG=x", "AUTH_TOKEN=hunter2", "AUTH_TOKEN_FILE=/t")
	_, err := Load("", env)
	for _, want := range []string{"BACKEND_PORT", "DEBUG", "AUTH_TOKEN_FILE: \"/t\" is set together with AUTH_TOKEN"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load() error = %v, want it to mention %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Load() error %q reveals the auth token", err)
	}
}

func TestAuthTokenFile(t *testing.T) {
	home, _ := testEnv(t)
	tokenFile := writeFile(t, filepath.Join(home, "token"), "  tok-123\n")
	empty := writeFile(t, filepath.Join(home, "empty"), "\n\n")

	c := mustLoad(t, "", []string{"HOME=" + home, "AUTH_TOKEN_FILE=~/token"})
	if c.AuthToken != "tok-123" {
		t.Errorf("AuthToken from ~/token = %q, want tok-123", c.AuthToken)
	}
	if _, err := Load("", []string{"HOME=" + home, "AUTH_TOKEN_FILE=" + empty}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("Load(empty token file) error = %v, want 'is empty'", err)
	}

	c = mustLoad(t, "", []string{"HOME=" + home})
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--auth-token-file", tokenFile}); err != nil || c.AuthToken != "tok-123" {
		t.Errorf("--auth-token-file: err %v, token %q; want nil, tok-123", err, c.AuthToken)
	}
	if err := fs.Parse([]string{"--auth-token-file", filepath.Join(home, "nope")}); err == nil {
		t.Error("--auth-token-file with a missing file: got no error")
	}
}

func TestDotenvErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"missing equals", "A=1\nJUST_A_WORD\n", ":2: expected KEY=VALUE"},
		{"bad key", "# c\n\n1BAD=x\n", `:3: "1BAD" is not a valid variable name`},
		{"empty key", "=x\n", `:1: "" is not a valid variable name`},
		{"unterminated double quote", "A=\"abc\n", ":1: A: unterminated quoted value"},
		{"unterminated single quote", "A='abc\n", ":1: A: unterminated quoted value"},
		{"text after quote", `A="abc" def`, ":1: A: unexpected text after the closing quote"},
		{"bad value", "BACKEND_PORT=99999999999999999999\n", `BACKEND_PORT: "99999999999999999999" is not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, env := testEnv(t)
			path := writeFile(t, filepath.Join(home, ".env"), tt.content)
			_, err := Load(path, env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(.env %q) error = %v, want %q", tt.content, err, tt.want)
			}
			if !strings.Contains(tt.want, "BACKEND_PORT") && !strings.Contains(err.Error(), path) {
				t.Errorf("Load() error = %v, want it to name %s", err, path)
			}
		})
	}
	// A .env path that is a directory cannot be read.
	home, env := testEnv(t)
	if _, err := Load(home, env); err == nil || !strings.Contains(err.Error(), home) {
		t.Errorf("Load(directory) error = %v, want one naming %s", err, home)
	}
}

func TestDotenvValues(t *testing.T) {
	content := strings.Join([]string{
		"# comment",
		"   ",
		"export PLAIN=value",
		"export\tTABBED=t",
		"SPACED = spaced value  ",
		`DOUBLE="a \"quoted\" \\ line\nnext\ttab\r\q" # trailing comment`,
		`SINGLE='no \n escapes # here'`,
		"INLINE=kept#hash # dropped",
		"EMPTY=",
		"COMMENT_ONLY= # nothing",
		"HASHSTART=#value",
		"exporter=x",
		"DUP=first",
		"DUP=second",
		`EMPTYQ=""`,
	}, "\n")
	got, err := parseDotenv(strings.NewReader(content), ".env")
	if err != nil {
		t.Fatalf("parseDotenv() = %v", err)
	}
	want := map[string]string{
		"PLAIN":        "value",
		"TABBED":       "t",
		"SPACED":       "spaced value",
		"DOUBLE":       "a \"quoted\" \\ line\nnext\ttab\r\\q",
		"SINGLE":       `no \n escapes # here`,
		"INLINE":       "kept#hash",
		"EMPTY":        "",
		"COMMENT_ONLY": "",
		"HASHSTART":    "#value",
		"exporter":     "x",
		"DUP":          "second",
		"EMPTYQ":       "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDotenv() =\n%q\nwant\n%q", got, want)
	}
}

func TestDotenvLongLine(t *testing.T) {
	_, err := parseDotenv(strings.NewReader("A="+strings.Repeat("x", 2<<20)), "big.env")
	if err == nil || !strings.Contains(err.Error(), "big.env") {
		t.Errorf("parseDotenv(2 MB line) error = %v, want one naming big.env", err)
	}
}

func validConfig(t *testing.T) Config {
	t.Helper()
	_, env := testEnv(t)
	return mustLoad(t, "", env)
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"negative port", func(c *Config) { c.Port = -1 }, `BACKEND_PORT: "-1" is not a port number (1-65535, or 0 for any free port)`},
		{"port too big", func(c *Config) { c.Port = 70000 }, `BACKEND_PORT: "70000" is not a port number`},
		{"no claude dir", func(c *Config) { c.ClaudeDirs = nil }, `CLAUDE_DIR: "" must name at least one directory`},
		{"no database", func(c *Config) { c.DatabasePath = "" }, `DATABASE_PATH: "" must not be empty`},
		{"mysql url", func(c *Config) { c.DatabaseURL = "mysql://u:pw@h/db" },
			`DATABASE_URL: "mysql://u:****@h/db" is not a postgres:// or postgresql:// URL`},
		{"unparseable url", func(c *Config) { c.DatabaseURL = "postgres://u:p@[bad" }, `DATABASE_URL: "****"`},
		{"empty host", func(c *Config) { c.Host = "" }, `HOST: "" must not be empty`},
		{"host with port", func(c *Config) { c.Host = "localhost:80" }, `HOST: "localhost:80" is not an IP address or host name`},
		{"host bad label", func(c *Config) { c.Host = "-a.b" }, `HOST: "-a.b" is not an IP address`},
		{"host empty label", func(c *Config) { c.Host = "a..b" }, `HOST: "a..b" is not an IP address`},
		{"host too long", func(c *Config) { c.Host = strings.Repeat("a", 254) }, `is not an IP address`},
		{"prefix without slash", func(c *Config) { c.APIPrefix = "api" }, `API_PREFIX: "api" must start with '/'`},
		{"prefix trailing slash", func(c *Config) { c.APIPrefix = "/api/" }, `API_PREFIX: "/api/" must not end with '/'`},
		{"root prefix", func(c *Config) { c.APIPrefix = "/" }, `must not end with '/'`},
		{"prefix with query", func(c *Config) { c.APIPrefix = "/api?x" }, `must be a plain URL path`},
		{"prefix double slash", func(c *Config) { c.APIPrefix = "/a//b" }, `must not contain an empty segment`},
		{"log level", func(c *Config) { c.LogLevel = "verbose" }, `LOG_LEVEL: "verbose" is not one of DEBUG, INFO, WARN, ERROR`},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, `LOG_FORMAT: "xml" is not text or json`},
		{"cors path", func(c *Config) { c.CORSOrigins = []string{"http://a.example/app"} }, `CORS_ORIGINS: "http://a.example/app" is not an http(s) origin`},
		{"cors scheme", func(c *Config) { c.CORSOrigins = []string{"ftp://a.example"} }, `CORS_ORIGINS: "ftp://a.example"`},
		{"cors bare host", func(c *Config) { c.CORSOrigins = []string{"localhost:3000"} }, `CORS_ORIGINS: "localhost:3000"`},
		{"cors user", func(c *Config) { c.CORSOrigins = []string{"http://u@a.example"} }, `CORS_ORIGINS: "http://u@a.example"`},
		{"timezone", func(c *Config) { c.Timezone = "Nowhere" }, `TIMEZONE: "Nowhere" is not a time zone name`},
		{"snapshot interval", func(c *Config) { c.SnapshotInterval = 0 }, `SNAPSHOT_INTERVAL: "0s" must be positive`},
		{"retention", func(c *Config) { c.RetentionDays = 0 }, `RETENTION_DAYS: "0" must be at least 1`},
		{"plan", func(c *Config) { c.Plan = "enterprise" }, `PLAN: "enterprise" is not one of pro, max5, max20, custom`},
		{"token limit", func(c *Config) { c.TokenLimit = -2 }, `TOKEN_LIMIT: "-2" is not a token count or "max"`},
		{"cost limit", func(c *Config) { c.CostLimit = -1.5 }, `COST_LIMIT: "-1.5" must not be negative`},
		{"ws clients", func(c *Config) { c.MaxWSClients = 0 }, `WS_MAX_CLIENTS: "0" must be at least 1`},
		{"poll interval", func(c *Config) { c.PollInterval = -time.Second }, `POLL_INTERVAL: "-1s" must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("Validate() error %T is not a *ValidationError", err)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		check  func(c *Config) bool
	}{
		{"remote with token", func(c *Config) { c.Host = "0.0.0.0"; c.AuthToken = "t" }, nil},
		{"remote allowed", func(c *Config) { c.Host = "::"; c.AllowRemote = true }, nil},
		{"localhost", func(c *Config) { c.Host = "localhost" }, nil},
		{"ipv6 loopback", func(c *Config) { c.Host = "::1" }, nil},
		{"host name with token", func(c *Config) { c.Host = "ctm.example.com"; c.AuthToken = "t" }, nil},
		{"postgresql url", func(c *Config) { c.DatabaseURL = "postgresql://h/db"; c.DatabasePath = "" }, nil},
		{"cors star and https", func(c *Config) { c.CORSOrigins = []string{"*", "https://a.example:8443/"} },
			func(c *Config) bool { return slices.Equal(c.CORSOrigins, []string{"*", "https://a.example:8443"}) }},
		{"warning level", func(c *Config) { c.LogLevel = " warning " }, func(c *Config) bool { return c.LogLevel == "WARN" }},
		{"debug forces level", func(c *Config) { c.LogLevel = "error"; c.Debug = true },
			func(c *Config) bool { return c.LogLevel == "DEBUG" && c.SlogLevel() == slog.LevelDebug }},
		{"plan case", func(c *Config) { c.Plan = "PRO" }, func(c *Config) bool { return c.Plan == "pro" }},
		{"empty timezone is local", func(c *Config) { c.Timezone = "" },
			func(c *Config) bool { return c.Timezone == "Local" && c.Location == time.Local }},
		{"tilde paths", func(c *Config) { c.LogFile = "~/x.log"; c.PricingFile = "~"; c.ClaudeDirs = []string{"~other/x"} },
			func(c *Config) bool {
				return c.LogFile == filepath.Join(c.Home, "x.log") && c.PricingFile == c.Home && c.ClaudeDirs[0] == "~other/x"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if tt.check != nil && !tt.check(&c) {
				t.Errorf("after Validate() config = %+v, not as expected", c.Redacted())
			}
		})
	}
}

func TestBindFlags(t *testing.T) {
	home, env := testEnv(t, "TOKEN_LIMIT=500", "CORS_ORIGINS=http://a.example")
	c := mustLoad(t, "", env)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.BindFlags(fs)

	// Defaults are the loaded values, so an unparsed flag changes nothing.
	defaults := map[string]string{
		"port": "51888", "host": "127.0.0.1", "token-limit": "500",
		"cors-origins": "http://a.example", "claude-dir": filepath.Join(home, ".claude"),
	}
	for name, want := range defaults {
		if got := fs.Lookup(name).DefValue; got != want {
			t.Errorf("flag --%s default = %q, want %q", name, got, want)
		}
	}

	args := []string{
		"--claude-dir", "~/x, /y", "--db", "~/d.db", "--database-url", "postgres://h/db",
		"--host", "0.0.0.0", "--port", "9000", "--api-prefix", "/v9", "--tz", "UTC",
		"--log-level", "debug", "--log-format", "json", "--log-file", "/tmp/l.log",
		"--debug", "--pricing-file", "/p.json", "--allow-remote",
		"--cors-origins", `["https://b.example"]`, "--snapshot-interval", "5m",
		"--retention-days", "30", "--plan", "max5", "--token-limit", "max",
		"--cost-limit", "3.5", "--ws-max-clients", "7", "--poll-interval", "1s",
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	want := Config{
		ClaudeDirs: []string{filepath.Join(home, "x"), "/y"}, DatabasePath: filepath.Join(home, "d.db"),
		DatabaseURL: "postgres://h/db", Host: "0.0.0.0", Port: 9000, APIPrefix: "/v9",
		Timezone: "UTC", Location: time.UTC, LogLevel: "DEBUG", LogFormat: "json", LogFile: "/tmp/l.log",
		Debug: true, PricingFile: "/p.json", AllowRemote: true, CORSOrigins: []string{"https://b.example"},
		SnapshotInterval: 5 * time.Minute, RetentionDays: 30, Plan: "max5", TokenLimit: TokenLimitMax,
		CostLimit: 3.5, MaxWSClients: 7, PollInterval: time.Second, Home: home, PricingURL: DefaultPricingURL,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("after flags =\n%#v\nwant\n%#v", c, want)
	}
	if got := fs.Lookup("token-limit").Value.String(); got != "max" {
		t.Errorf("--token-limit value = %q, want max", got)
	}
}

func TestBindFlagsBadValues(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error of Parse, or of Validate when parsing succeeds
	}{
		{[]string{"--token-limit", "many"}, `is not a token count or "max"`},
		{[]string{"--port", "http"}, `invalid value "http" for flag -port`},
		{[]string{"--port", "-5"}, `BACKEND_PORT: "-5" is not a port number`},
		{[]string{"--cors-origins", `["x"`}, `CORS_ORIGINS: "[\"x\""`},
		{[]string{"--tz", "Bad/Zone"}, `TIMEZONE: "Bad/Zone"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := validConfig(t)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.BindFlags(fs)
			err := fs.Parse(tt.args)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("flags %q: error = %v, want %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestFlagUsageDoesNotPanic(t *testing.T) {
	// PrintDefaults calls String on zero values of every flag type.
	c := validConfig(t)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	c.BindFlags(fs)
	fs.PrintDefaults()
	if strings.Contains(out.String(), "panic") || !strings.Contains(out.String(), "-token-limit") {
		t.Errorf("PrintDefaults() =\n%s\nwant every flag and no panic", out.String())
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		token     string
		wantURL   string
		wantToken string
	}{
		{"password in user info", "postgres://ctm:hunter2@db:5432/ctm?sslmode=disable", "tok-secret",
			"postgres://ctm:****@db:5432/ctm?sslmode=disable", "****"},
		{"password in query", "postgresql://db/ctm?user=ctm&password=hunter2", "",
			"postgresql://db/ctm?password=****&user=ctm", ""},
		{"no password", "postgres://ctm@db/ctm", "", "postgres://ctm@db/ctm", ""},
		{"unparseable", "postgres://ctm:hunter2@[db", "", "****", ""},
		{"unset", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			c.DatabaseURL, c.AuthToken = tt.url, tt.token
			r := c.Redacted()
			gotURL := r["database_url"].(string)
			if gotURL != tt.wantURL {
				t.Errorf("database_url = %q, want %q", gotURL, tt.wantURL)
			}
			if r["auth_token"] != tt.wantToken {
				t.Errorf("auth_token = %q, want %q", r["auth_token"], tt.wantToken)
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range []string{string(b), c.String(), strings.TrimSpace(fmtValue(c))} {
				if strings.Contains(out, "hunter2") || strings.Contains(out, "tok-secret") {
					t.Errorf("redacted output reveals a secret: %s", out)
				}
			}
		})
	}
	c := validConfig(t)
	c.TokenLimit = TokenLimitMax
	r := c.Redacted()
	if r["token_limit"] != "max" || r["port"] != 51888 || r["snapshot_interval"] != "30m0s" {
		t.Errorf("Redacted() token_limit %v port %v snapshot_interval %v; want max 51888 30m0s",
			r["token_limit"], r["port"], r["snapshot_interval"])
	}
}

// fmtValue formats c the way a careless log line would.
func fmtValue(c Config) string {
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "cfg", c)
	return b.String()
}

func TestHelpers(t *testing.T) {
	tests := []struct {
		host     string
		loopback bool
		addr     string
	}{
		{"127.0.0.1", true, "127.0.0.1:51888"},
		{"localhost", true, "localhost:51888"},
		{"::1", true, "[::1]:51888"},
		{"0.0.0.0", false, "0.0.0.0:51888"},
		{"example.com", false, "example.com:51888"},
	}
	for _, tt := range tests {
		c := Default()
		c.Host = tt.host
		if got := c.Loopback(); got != tt.loopback {
			t.Errorf("Loopback(%q) = %v, want %v", tt.host, got, tt.loopback)
		}
		if got := c.Addr(); got != tt.addr {
			t.Errorf("Addr(%q) = %q, want %q", tt.host, got, tt.addr)
		}
	}
	levels := map[string]slog.Level{"DEBUG": slog.LevelDebug, "INFO": slog.LevelInfo, "WARN": slog.LevelWarn,
		"ERROR": slog.LevelError, "junk": slog.LevelInfo}
	for name, want := range levels {
		c := Default()
		c.LogLevel = name
		if got := c.SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", name, got, want)
		}
	}
	if got := (&ValidationError{Var: "X", Value: "v", Reason: "is bad"}).Error(); got != `X: "v" is bad` {
		t.Errorf("ValidationError.Error() = %q", got)
	}
}

func TestLoadHomeFallbacks(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, "", []string{"USERPROFILE=" + dir, "CLAUDE_DIR=/x", "DATABASE_PATH=/d.db"})
	if c.Home != dir {
		t.Errorf("Home from USERPROFILE = %q, want %q", c.Home, dir)
	}
	if got := expandHome("~/a", ""); got != "~/a" {
		t.Errorf("expandHome with unknown home = %q, want it unchanged", got)
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"loopback", func(c *Config) {}, ""},
		{"localhost", func(c *Config) { c.Host = "localhost" }, ""},
		{"remote without token", func(c *Config) { c.Host = "0.0.0.0" },
			`HOST: "0.0.0.0" is not a loopback address; set AUTH_TOKEN, or ALLOW_REMOTE=true`},
		{"remote name without token", func(c *Config) { c.Host = "example.com" }, `HOST: "example.com" is not a loopback`},
		{"remote with token", func(c *Config) { c.Host = "0.0.0.0"; c.AuthToken = "0123456789abcdef" }, ""},
		{"remote with blank token", func(c *Config) { c.Host = "0.0.0.0"; c.AuthToken = "   " },
			`HOST: "0.0.0.0" is not a loopback address; set AUTH_TOKEN`},
		{"remote with short token", func(c *Config) { c.Host = "0.0.0.0"; c.AuthToken = "0123456789abcde" },
			`AUTH_TOKEN: "***" is 15 characters; a non-loopback HOST needs a token of at least 16`},
		{"remote with short padded token", func(c *Config) { c.Host = "0.0.0.0"; c.AuthToken = "  short token    " },
			`AUTH_TOKEN: "***" is 11 characters`},
		{"remote allowed", func(c *Config) { c.Host = "0.0.0.0"; c.AllowRemote = true }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v; a listen address is checked only by CheckListen", err)
			}
			err := c.CheckListen()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckListen() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckListen() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLogFormatFor(t *testing.T) {
	tests := []struct {
		format   string
		debug    bool
		terminal bool
		want     string
	}{
		{"", false, true, "text"},
		{"", false, false, "json"},
		{"", true, false, "text"},
		{"json", false, true, "json"},
		{"text", false, false, "text"},
	}
	for _, tt := range tests {
		c := Config{LogFormat: tt.format, Debug: tt.debug}
		if got := c.LogFormatFor(tt.terminal); got != tt.want {
			t.Errorf("LogFormatFor(%v) with LOG_FORMAT=%q DEBUG=%v = %q, want %q", tt.terminal, tt.format, tt.debug, got, tt.want)
		}
	}
}
