package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// getAPIAs is getAPI with a query and a bearer token ("" for none).
func getAPIAs(t *testing.T, base, path, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// startWithHub serves the corpus with the server's WebSocket feed, options
// edited by edit; the hub closes before the server at cleanup.
func startWithHub(t *testing.T, root string, edit func(*server.Options) error) *corpus {
	t.Helper()
	c, err := startCorpusWith(root, nil, func(o *server.Options) error {
		o.WebSocket = &server.HubOptions{}
		if edit != nil {
			return edit(o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	t.Cleanup(c.srv.Hub().Close)
	return c
}

const todayKPI = `document.querySelector('[data-metric="today.total_tokens"]')`

// TestTokenForm serves the dashboard with AUTH_TOKEN: the page loads
// without it, asks for it in its own form, refuses a wrong one, and with
// the right one shows the figures and opens the live feed.
func TestTokenForm(t *testing.T) {
	requireChromium(t)
	const token = "team-s3cret"
	root, err := corpusDir(t)
	if err != nil {
		t.Fatal(err)
	}
	c := startWithHub(t, root, func(o *server.Options) error {
		o.AuthToken = token
		return nil
	})
	if code := routeStatus(t, c.url+"/api/v1/stats"); code != http.StatusUnauthorized {
		t.Fatalf("/api/v1/stats without the token = %d, want 401", code)
	}
	b := newBrowser(t, 1280, 900)
	if err := chromedp.Do(b.ctx,
		chromedp.Navigate(c.url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#auth-token`)),
	); err != nil {
		t.Fatalf("the token form did not show: %v", err)
	}
	if got := eval[string](t, b, todayKPI+`.textContent`); got != "—" {
		t.Errorf("today's KPI shows %q before the token, want —", got)
	}
	// The form is labelled and is the page's focus.
	if got := eval[string](t, b, `document.activeElement.id + ' ' + document.querySelector('label[for="auth-token"]').textContent`); got != "auth-token Access token" {
		t.Errorf("focus and label = %q, want the labelled token field focused", got)
	}

	if err := chromedp.Do(b.ctx,
		chromedp.SendKeys(chromedp.CSS(`#auth-token`), "wrong"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the refusal", `document.querySelector('#auth-error').textContent.includes('did not accept') && document.querySelector('#auth-dialog').open`)
	b.screenshot(t, "token-form.png")

	if err := chromedp.Do(b.ctx,
		chromedp.SendKeys(chromedp.CSS(`#auth-token`), token),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`html[data-ready="true"]`)),
	); err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Today struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"today"`
	}
	getAPIAs(t, c.url, "/stats", token, &stats)
	if stats.Today.TotalTokens == 0 {
		t.Fatal("today's tokens are 0 on the corpus's last day; the fixture is wrong")
	}
	b.waitFor(t, "today's KPI", fmt.Sprintf(`%s.dataset.value === %q`, todayKPI, strconv.FormatInt(stats.Today.TotalTokens, 10)))
	if eval[bool](t, b, `document.querySelector('#auth-dialog').open`) {
		t.Errorf("the token form is still open")
	}
	if got := eval[string](t, b, `sessionStorage.getItem('ctm-token')`); got != token {
		t.Errorf("sessionStorage token = %q, want the entered one", got)
	}
	// The WebSocket carries the token in its URL.
	b.waitFor(t, "the live feed", `document.querySelector('#live').dataset.state === 'live'`)

	// A reload in the same tab keeps the token: no form.
	if err := chromedp.Do(b.ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`html[data-ready="true"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if eval[bool](t, b, `document.querySelector('#auth-dialog').open`) {
		t.Errorf("the token form shows again after a reload")
	}
	b.waitFor(t, "today's KPI after a reload", fmt.Sprintf(`%s.dataset.value === %q`, todayKPI, strconv.FormatInt(stats.Today.TotalTokens, 10)))
	if errs := consoleErrors(t, b, c.url); len(errs) > 0 {
		// The refused requests log 401s; anything else is a fault.
		var other []string
		for _, e := range errs {
			if !strings.Contains(e, "401") {
				other = append(other, e)
			}
		}
		if len(other) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(other, "\n"))
		}
	}
}

// blockNow is inside the corpus's last 5-hour block (its records of
// 2026-03-01 run from 07:12 to 09:14 UTC).
var blockNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type activeBlock struct {
	ID          string `json:"id"`
	TotalTokens int64  `json:"total_tokens"`
	LimitStatus struct {
		Status string `json:"status"`
	} `json:"limit_status"`
}

// TestBlockCard shows the active block of /blocks/active, then follows a
// block_update that NotifyBlocks sends after a real ingest.
func TestBlockCard(t *testing.T) {
	requireChromium(t)
	root := copyCorpus(t)
	c := startWithHub(t, root, func(o *server.Options) error {
		o.Now = func() time.Time { return blockNow }
		var err error
		o.Limits, err = usage.NewLimits("max20", 0, 0)
		return err
	})
	var act activeBlock
	getAPI(t, c.url, "/blocks/active", &act)
	b := newBrowser(t, 1280, 900)
	b.open(t, c.url+"/")
	b.waitFor(t, "the active block", `document.querySelector('#block-card').dataset.state === 'active'`)
	card := eval[map[string]string](t, b, `({...document.querySelector('#block-card').dataset})`)
	if card["blockId"] != act.ID || card["totalTokens"] != strconv.FormatInt(act.TotalTokens, 10) || card["limitStatus"] != act.LimitStatus.Status {
		t.Errorf("card = %v, want block %s with %d tokens, %s", card, act.ID, act.TotalTokens, act.LimitStatus.Status)
	}
	text := eval[string](t, b, `document.querySelector('#block-body').textContent`)
	// The block ends at 12:00, two hours after the server's now.
	for _, want := range []string{"Burn rate", "/min", "Projected tokens", "Limit (", "2h 0m left", "Limit reached"} {
		if !strings.Contains(text, want) {
			t.Errorf("block card lacks %q: %s", want, text)
		}
	}
	b.waitFor(t, "the live feed", `document.querySelector('#live').dataset.state === 'live'`)
	b.screenshot(t, "block-card.png")

	appendResponse(t, root, blockNow.Add(-10*time.Minute), "block1")
	res, err := c.ingest.IngestFiles(context.Background(), []string{filepath.Join(root, liveTranscript)})
	if err != nil || res.Written != 1 {
		t.Fatalf("ingest = %+v, %v; want the 1 appended record", res, err)
	}
	c.srv.Ingested(context.Background())
	b.waitFor(t, "the block_update", fmt.Sprintf(`document.querySelector('#block-card').dataset.totalTokens === %q`,
		strconv.FormatInt(act.TotalTokens+liveTokens, 10)))
}

// TestUserFilter adds two users' records to the corpus: the page offers
// them in a select, and choosing one shows that user's figures only. The
// shared single-user corpus hides the select.
func TestUserFilter(t *testing.T) {
	requireChromium(t)
	b := newBrowser(t, 1280, 900)
	b.open(t, serverURL(t)+"/")
	if !eval[bool](t, b, `document.querySelector('#user-filter-wrap').hidden`) {
		t.Errorf("the user select shows on a single-user server")
	}

	root, err := corpusDir(t)
	if err != nil {
		t.Fatal(err)
	}
	at := corpusNow.Add(-2 * time.Hour)
	c := startWithHub(t, root, func(o *server.Options) error {
		rec := func(id, user string, input int64) usage.Record {
			return usage.Record{Key: "msg_" + id + ":req_" + id, MessageID: "msg_" + id, RequestID: "req_" + id,
				Timestamp: at, Model: "claude-sonnet-4-5", SessionID: "s-" + user, Project: "/work/" + user,
				User: user, Tokens: usage.Tokens{Input: input, Output: 100}}
		}
		return o.Store.Apply(context.Background(), usage.Batch{Records: []usage.Record{
			rec("alice1", "alice", 7000), rec("bob1", "bob", 90000),
		}})
	})
	b.open(t, c.url+"/")
	b.waitFor(t, "the user select", `!document.querySelector('#user-filter-wrap').hidden`)
	opts := eval[[]string](t, b, `[...document.querySelectorAll('#user-filter option')].map(o => o.value)`)
	if strings.Join(opts, ",") != ",alice,bob" {
		t.Errorf("user options = %q, want all users, alice, bob", opts)
	}
	// Choose alice as a user would: focus the select and type her name.
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS(`#user-filter`), "alice")); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "alice's KPI", todayKPI+`.dataset.value === '7100'`)
	b.waitFor(t, "alice's sessions", `document.querySelector('#sessions-count').textContent.startsWith('1 of 1')`)
	if href := eval[string](t, b, `document.querySelector('#export-csv').href`); !strings.Contains(href, "user=alice") {
		t.Errorf("export link %q does not carry the user", href)
	}
}
