package storetest

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// RunReprice checks that stored costs follow the price table in force
// (DESIGN §3, "history follows the table"): reopening a store with another
// table re-prices every record before the first answer, a write with a
// table re-prices first too, and putting the old table back gives exactly
// the old figures. open must open the same database on every call, with
// the given table.
func RunReprice(t *testing.T, open func(t *testing.T, p usage.Pricer) usage.Store) {
	dear := tenfoldOpus(t)
	a := open(t, Prices)
	apply(t, a, usage.Batch{Records: dataset()})
	base := snapshot(t, a)

	// Another process opens the database with another table: it answers
	// with its own prices.
	b := open(t, dear)
	checkPriced(t, "opened with another table", b, dear)
	if reflect.DeepEqual(snapshot(t, b), base) {
		t.Fatal("a tenfold Opus price left every figure unchanged")
	}

	// The first writes again: what it adds joins costs of its own table.
	extra := rec("reprice-extra", 90*24*time.Hour, opus, "s9", "/p/z", usage.Tokens{Input: 1000})
	apply(t, a, usage.Batch{Records: []usage.Record{extra}})
	checkPriced(t, "after a write with the first table", a, Prices)
	withExtra := snapshot(t, a)
	if len(withExtra.records) != len(base.records)+1 || !reflect.DeepEqual(withExtra.records[:len(base.records)], base.records) {
		t.Errorf("after the write:\n%v\nwant the old figures and one more\n%v", withExtra.records, base.records)
	}
	checkPriced(t, "read again with the other table", b, dear)
	closeStore(t, a)
	closeStore(t, b)

	// The old table back: exactly the old figures.
	a = open(t, Prices)
	if got := snapshot(t, a); !reflect.DeepEqual(got, withExtra) {
		t.Errorf("reopened with the first table:\n%+v\nwant\n%+v", got, withExtra)
	}
	closeStore(t, a)
}

// checkPriced requires every record s returns to cost what p says.
func checkPriced(t *testing.T, when string, s usage.Store, p usage.Pricer) {
	t.Helper()
	for _, r := range allRecords(t, s) {
		if want, _ := p.Price(&r); r.Cost != want {
			t.Errorf("%s: record %s costs %s, want %s", when, r.Key, r.Cost, want)
		}
	}
}

// figures is what RunReprice compares: every record's cost and the
// aggregates by session.
type figures struct {
	records []string
	buckets []usage.Bucket
}

func snapshot(t *testing.T, s usage.Store) figures {
	var f figures
	for _, r := range allRecords(t, s) {
		f.records = append(f.records, fmt.Sprint(r.Key, " ", r.Cost))
	}
	f.buckets = aggregate(t, s, usage.Filter{}, usage.BySession)
	return f
}

func closeStore(t *testing.T, s usage.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// tenfoldOpus is the embedded table with Opus 4.6 ten times dearer.
func tenfoldOpus(t *testing.T) usage.Pricer {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dear.json")
	if err := os.WriteFile(p, []byte(`{"models": {"claude-opus-4-6": {"input": 50, "output": 250,
		"cache_write_5m": 62.5, "cache_write_1h": 100, "cache_read": 5}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tab, err := pricing.Load(pricing.Options{UserFile: p})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}
