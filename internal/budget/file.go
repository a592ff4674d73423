// Package budget reads the budgets file (BUDGETS_FILE) and delivers the
// notifications of budgets that cross 50, 80 and 100 %: to generic JSON
// webhooks, Slack, Discord and ntfy, retried with backoff, recorded once
// delivered so that no restart sends one twice, and always off the ingest
// path. The spending itself is computed by views.Views.Budgets.
package budget

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// maxFileBytes bounds the budgets file; real ones are a few hundred bytes.
const maxFileBytes = 1 << 20

// Target kinds: the payload formats a notification is sent in.
const (
	KindWebhook = "webhook" // the Alert as JSON
	KindSlack   = "slack"   // {"text": ...}, for Slack incoming webhooks
	KindDiscord = "discord" // {"content": ...}, for Discord webhooks
	KindNtfy    = "ntfy"    // text body with Title, Priority and Tags headers
)

// TargetWebSocket is the name under which alerts broadcast to the WebSocket
// clients (and so the dashboard) are logged, once per budget, period and
// threshold like any target.
const TargetWebSocket = "websocket"

// Target is where notifications go.
type Target struct {
	// Name identifies the target in the sent log; it defaults to Kind and
	// must be unique.
	Name string `json:"name,omitempty"`
	Kind string `json:"type"`
	URL  string `json:"url"`
	// Headers are added to every request, e.g. an Authorization header
	// for a protected ntfy topic.
	Headers map[string]string `json:"headers,omitempty"`
}

// Config is the content of a budgets file.
type Config struct {
	Budgets []usage.Budget `json:"budgets"`
	Targets []Target       `json:"targets,omitempty"`
}

// fileConfig is the file's shape, with amounts kept as written so that
// they convert to Money exactly.
type fileConfig struct {
	Budgets []fileBudget `json:"budgets"`
	Targets []Target     `json:"targets"`
}

type fileBudget struct {
	ID      string      `json:"id"`
	Period  string      `json:"period"`
	Amount  json.Number `json:"amount_usd"`
	Project string      `json:"project"`
	User    string      `json:"user"`
}

// validID reports whether id is 1-64 letters, digits, '.', '_' or '-',
// starting with a letter or digit. A loop, not a regular expression: the
// counted repetition compiled into a large program at every process start,
// budgets file or not.
func validID(id string) bool {
	if id == "" || len(id) > 64 || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Load reads and validates the budgets file at path: JSON, or TOML when
// the name ends in .toml. Every error names the file and the entry.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("BUDGETS_FILE %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("BUDGETS_FILE %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, usage.Errorf(usage.EINVALID, "BUDGETS_FILE %s: larger than %d bytes", path, maxFileBytes)
	}
	cfg, err := Parse(data, strings.EqualFold(filepath.Ext(path), ".toml"))
	if err != nil {
		return nil, usage.Errorf(usage.EINVALID, "BUDGETS_FILE %s: %s", path, usage.ErrorMessage(err))
	}
	return cfg, nil
}

// Parse decodes and validates a budgets file's content; isTOML selects
// TOML, else JSON. Unknown keys are errors: a misspelt "amount" must not
// silently make a budget of $0.
func Parse(data []byte, isTOML bool) (*Config, error) {
	if isTOML {
		var m map[string]any
		if _, err := toml.Decode(string(data), &m); err != nil {
			return nil, usage.Errorf(usage.EINVALID, "not valid TOML: %v", err)
		}
		// One validation path for both formats: TOML's tables and
		// arrays map onto the JSON shape one to one.
		var err error
		if data, err = json.Marshal(m); err != nil {
			return nil, usage.Errorf(usage.EINVALID, "not representable as JSON: %v", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var fc fileConfig
	if err := dec.Decode(&fc); err != nil {
		return nil, usage.Errorf(usage.EINVALID, "not a valid budgets file: %v", err)
	}
	if dec.More() {
		return nil, usage.Errorf(usage.EINVALID, "not a valid budgets file: data after the top-level object")
	}
	return fc.validate()
}

func (fc *fileConfig) validate() (*Config, error) {
	var errs []string
	cfg := &Config{Budgets: []usage.Budget{}, Targets: []Target{}}
	ids := map[string]bool{}
	for i, fb := range fc.Budgets {
		where := fmt.Sprintf("budgets[%d]", i)
		if fb.ID != "" {
			where += fmt.Sprintf(" (id %q)", fb.ID)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, where+": "+fmt.Sprintf(format, args...))
		}
		b := usage.Budget{ID: fb.ID, Period: usage.BudgetPeriod(strings.ToLower(fb.Period)), Project: fb.Project, User: fb.User}
		switch {
		case fb.ID == "":
			bad("id is missing")
		case !validID(fb.ID):
			bad("id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		case ids[fb.ID]:
			bad("id is used by an earlier budget")
		}
		ids[fb.ID] = true
		if !b.Period.Valid() {
			bad("period %q is not daily, weekly or monthly", fb.Period)
		}
		if fb.Amount == "" {
			bad("amount_usd is missing")
		} else if m, err := usage.ParseMoney(string(fb.Amount)); err != nil {
			bad("amount_usd: %v", err)
		} else if m <= 0 {
			bad("amount_usd must be positive")
		} else {
			b.Amount = m
		}
		cfg.Budgets = append(cfg.Budgets, b)
	}
	names := map[string]bool{TargetWebSocket: true}
	for i, t := range fc.Targets {
		where := fmt.Sprintf("targets[%d]", i)
		bad := func(format string, args ...any) {
			errs = append(errs, where+": "+fmt.Sprintf(format, args...))
		}
		t.Kind = strings.ToLower(t.Kind)
		switch t.Kind {
		case KindWebhook, KindSlack, KindDiscord, KindNtfy:
		default:
			bad("type %q is not webhook, slack, discord or ntfy", t.Kind)
		}
		if t.Name == "" {
			t.Name = t.Kind
		}
		if names[t.Name] {
			bad("name %q is used by another target (or reserved); give each target a name", t.Name)
		}
		names[t.Name] = true
		if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url %q is not an http(s) URL", t.URL)
		}
		for k := range t.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(t.Headers[k], "\r\n") {
				bad("header %q is not a valid header", k)
			}
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	if len(errs) > 0 {
		return nil, usage.Errorf(usage.EINVALID, "%s", strings.Join(errs, "; "))
	}
	return cfg, nil
}
