package gen

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// billingSize holds the scripted sessions of a billing data set and a few
// random ones.
const billingSize = 24 << 20

var (
	billingOnce sync.Once
	billingDir  string
	billingMan  *Manifest
	billingErr  error
)

// mustBillingCorpus generates one shared Config.Billing data set.
func mustBillingCorpus(tb testing.TB) (string, *Manifest) {
	tb.Helper()
	billingOnce.Do(func() {
		billingDir, billingErr = os.MkdirTemp("", "ctm-gen-billing-")
		if billingErr == nil {
			billingMan, billingErr = Generate(context.Background(), Config{Dir: billingDir, Size: billingSize, Seed: 7, Billing: true})
		}
	})
	if billingErr != nil {
		tb.Fatalf("Generate(billing): %v", billingErr)
	}
	return billingDir, billingMan
}

var (
	keptMu    sync.Mutex
	keptCache = map[string]map[string]keptCopy{}
)

// mustKept returns the kept copies of a shared data set, decoded once.
func mustKept(t *testing.T, dir string) map[string]keptCopy {
	t.Helper()
	keptMu.Lock()
	defer keptMu.Unlock()
	if k, ok := keptCache[dir]; ok {
		return k
	}
	k := keptCopies(t, decodeAll(t, readLines(t, dir)))
	keptCache[dir] = k
	return k
}

// keptCopy is the copy of one response that DESIGN.md §2 keeps, decoded by
// the test itself from the files on disk.
type keptCopy struct {
	tok                       usage.Tokens
	at                        time.Time
	model, session            string
	speed, geo, tier          string
	gatewayZeros, cacheObject bool
}

// keptCopies dedupes the usage lines of lines by (message.id, requestId),
// keeping the largest output and, among equal ones, the earliest copy.
func keptCopies(t *testing.T, lines []rawLine) map[string]keptCopy {
	t.Helper()
	out := map[string]keptCopy{}
	take := func(msg *rawMessage, req, ts, session string) {
		if msg == nil || msg.Usage == nil || msg.Model == "<synthetic>" {
			return
		}
		at, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			t.Fatalf("usage line with timestamp %q: %v", ts, err)
		}
		u := msg.Usage
		k := keptCopy{
			tok:     usage.Tokens{Input: u.Input, Output: u.Output, CacheRead: u.CacheRead, CacheCreation5m: u.CacheCreation},
			at:      at,
			model:   msg.Model,
			session: session,
			speed:   u.Speed, geo: u.InferenceGeo, tier: u.ServiceTier,
		}
		if u.Split != nil {
			k.cacheObject = true
			k.tok.CacheCreation5m, k.tok.CacheCreation1h = u.Split.M5, u.Split.H1
			// DESIGN.md §3 "cache write fallback".
			if rest := u.CacheCreation - u.Split.M5 - u.Split.H1; rest > 0 {
				k.tok.CacheCreation5m += rest
			}
			k.gatewayZeros = u.CacheCreation > 0 && u.Split.M5 == 0 && u.Split.H1 == 0
		}
		if u.Server != nil {
			k.tok.WebSearchRequests, k.tok.WebFetchRequests = u.Server.WebSearch, u.Server.WebFetch
		}
		key := msg.ID + "\x00" + req
		if old, ok := out[key]; !ok || k.tok.Output > old.tok.Output || k.tok.Output == old.tok.Output && k.at.Before(old.at) {
			out[key] = k
		}
	}
	for _, r := range lines {
		switch {
		case r.Type == "assistant" && r.Message != nil:
			req := ""
			if r.RequestID != nil {
				req = *r.RequestID
			}
			take(r.Message, req, r.Timestamp, r.SessionID)
		case r.Type == "progress" && r.Data != nil && r.Data.Type == "agent_progress" &&
			r.Data.Message != nil && r.Data.Message.Type == "assistant":
			take(r.Data.Message.Message, r.Data.Message.RequestID, r.Data.Message.Timestamp, r.SessionID)
		}
	}
	return out
}

// shapesOf classifies a kept copy by the billing rules of DESIGN.md §3,
// independently of the generator's own bookkeeping.
func shapesOf(k keptCopy) []string {
	var out []string
	add := func(ok bool, s string) {
		if ok {
			out = append(out, s)
		}
	}
	add(k.speed == "fast", BillingFast)
	add(k.tier == "batch", BillingBatch)
	add(k.geo == "us", BillingGeoUS)
	add(k.geo == "global", BillingGeoGlobal)
	add(k.geo == "not_available", BillingGeoNotAvailable)
	add(k.gatewayZeros, BillingGatewayZeros)
	add(k.tok.WebFetchRequests > 0, BillingWebFetch)
	p := k.tok.Prompt()
	if strings.HasPrefix(k.model, "claude-haiku-5-5") {
		add(p > 90_000 && p <= 100_000, BillingHaikuBelow)
		add(p > 100_000 && p <= 110_000, BillingHaikuAbove)
	}
	premiumEnd := time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)
	tiered := strings.HasPrefix(k.model, "claude-sonnet-4-5")
	if strings.HasPrefix(k.model, "claude-opus-4-6") || strings.HasPrefix(k.model, "claude-sonnet-4-6") {
		tiered = k.at.Before(premiumEnd)
		add(!tiered && p > 200_000, BillingLongContextEnded)
	}
	if tiered {
		add(p > 180_000 && p <= 200_000, BillingLongBelow)
		add(p > 200_000 && p <= 220_000, BillingLongAbove)
	}
	if strings.HasPrefix(k.model, "claude-sonnet-5-5") {
		cut := time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC)
		add(k.at.Before(cut), BillingSonnet55Before)
		add(!k.at.Before(cut), BillingSonnet55After)
	}
	return out
}

var allBillingShapes = []string{
	BillingFast, BillingBatch, BillingGeoUS, BillingGeoGlobal, BillingGeoNotAvailable,
	BillingGatewayZeros, BillingWebFetch, BillingHaikuBelow, BillingHaikuAbove,
	BillingLongBelow, BillingLongAbove, BillingLongContextEnded,
	BillingSonnet55Before, BillingSonnet55After,
}

func TestBillingShapesAppearAndAreCounted(t *testing.T) {
	dir, m := mustBillingCorpus(t)
	kept := mustKept(t, dir)
	got := map[string]int64{}
	models := map[string]bool{}
	for _, k := range kept {
		for _, s := range shapesOf(k) {
			got[s]++
		}
		models[k.model] = true
		if k.speed == "fast" && !strings.HasPrefix(k.model, "claude-opus-4-8") && !strings.HasPrefix(k.model, "claude-opus-5") {
			t.Errorf("fast response on %s, want only Opus 4.8, 5 and 5.5", k.model)
		}
	}
	for _, s := range allBillingShapes {
		if got[s] == 0 || got[s] != m.BillingShapes[s] {
			t.Errorf("shape %s: %d responses on disk, manifest says %d (want > 0)", s, got[s], m.BillingShapes[s])
		}
	}
	if n := len(kept); got[BillingBatch]*50 > int64(n) || got[BillingGatewayZeros]*4 > int64(n) {
		t.Errorf("%d batch and %d gateway responses of %d: want them occasional", got[BillingBatch], got[BillingGatewayZeros], n)
	}
	for _, base := range []string{
		"claude-opus-5", "claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5-2",
		"claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-8", "claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5",
	} {
		undated, dated := models[base], false
		for model := range models {
			rest, ok := strings.CutPrefix(model, base+"-")
			dated = dated || ok && len(rest) == 8 && strings.Trim(rest, "0123456789") == ""
		}
		if !undated && !dated {
			t.Errorf("model %s never appears", base)
		}
	}
	dated := 0
	for model := range models {
		if len(model) > 9 && strings.HasPrefix(model[len(model)-8:], "2026") {
			dated++
		}
	}
	if dated == 0 {
		t.Errorf("no model of 2026 with a date suffix in %v", slices.Sorted(maps.Keys(models)))
	}
	if !m.Billing || !m.Start.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !m.End.Equal(DefaultBillingEnd) {
		t.Errorf("manifest billing %v, window [%s, %s), want true, [2026-01-01, %s)", m.Billing, m.Start, m.End, DefaultBillingEnd)
	}
}

// TestManifestTotalsMatchDisk checks the manifest's totals, per model and
// per day, against the test's own reading of the files, gateway zeros
// counted as 5-minute writes.
func TestManifestTotalsMatchDisk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		corpus func(testing.TB) (string, *Manifest)
	}{{"default", mustCorpus}, {"billing", mustBillingCorpus}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, m := tc.corpus(t)
			kept := mustKept(t, dir)
			var total usage.Tokens
			models := map[string]ModelTotals{}
			days := map[string]ModelTotals{}
			for _, k := range kept {
				total = total.Add(k.tok)
				for key, mp := range map[string]map[string]ModelTotals{k.model: models, k.at.UTC().Format(time.DateOnly): days} {
					v := mp[key]
					v.Entries++
					v.Tokens = v.Tokens.Add(k.tok)
					mp[key] = v
				}
			}
			if total != m.Totals || int64(len(kept)) != m.UniqueResponses {
				t.Errorf("disk: %d responses, %+v; manifest: %d, %+v", len(kept), total, m.UniqueResponses, m.Totals)
			}
			compareTotals(t, "model", models, m.Models)
			compareTotals(t, "day", days, m.Days)
		})
	}
}

func compareTotals(t *testing.T, what string, got, want map[string]ModelTotals) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			t.Errorf("%s %s: got %+v, manifest says %+v", what, k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d %ss, manifest has %d", len(got), what, len(want))
	}
}
