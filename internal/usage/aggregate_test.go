package usage

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// unitPricer knows every model but "mystery".
type unitPricer struct{}

func (unitPricer) Price(r *Record) (Money, bool) { return 0, r.Model != "mystery" }
func (unitPricer) Priced(model string) bool      { return model != "mystery" }
func (unitPricer) Fingerprint() string           { return "unit" }

func TestTokensDerived(t *testing.T) {
	tok := Tokens{Input: 10, Output: 20, CacheCreation5m: 30, CacheCreation1h: 40, CacheRead: 100}
	if got := tok.CacheCreation(); got != 70 {
		t.Errorf("CacheCreation() = %d, want 70", got)
	}
	if got := tok.Total(); got != 200 {
		t.Errorf("Total() = %d, want 200", got)
	}
	if got := tok.Prompt(); got != 180 {
		t.Errorf("Prompt() = %d, want 180", got)
	}
	if got, want := tok.CacheHitRate(), 100.0/180; math.Abs(got-want) > 1e-12 {
		t.Errorf("CacheHitRate() = %v, want %v", got, want)
	}
	if got := (Tokens{}).CacheHitRate(); got != 0 {
		t.Errorf("empty CacheHitRate() = %v, want 0", got)
	}
	sum := tok.Add(Tokens{Input: 1, WebSearchRequests: 2})
	if sum.Input != 11 || sum.WebSearchRequests != 2 || sum.CacheRead != 100 {
		t.Errorf("Add = %+v", sum)
	}
}

func TestRecordKeyAndPrefer(t *testing.T) {
	if got := RecordKey("msg_1", "req_1", "uuid"); got != "msg_1:req_1" {
		t.Errorf("RecordKey = %q", got)
	}
	if got := RecordKey("", "req_1", "uuid-9"); got != "line:uuid-9" {
		t.Errorf("RecordKey without message id = %q", got)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	small := &Record{Timestamp: t0, Tokens: Tokens{Output: 5}}
	big := &Record{Timestamp: t0.Add(time.Second), Tokens: Tokens{Output: 50}}
	early := &Record{Timestamp: t0.Add(-time.Second), Tokens: Tokens{Output: 5}}
	tests := []struct {
		name   string
		r, old *Record
		want   bool
	}{
		{"more output wins", big, small, true},
		{"less output loses", small, big, false},
		{"equal output, earlier wins", early, small, true},
		{"equal output, later loses", small, early, false},
		{"identical keeps old", small, small, false},
		{"equal, smaller session wins", &Record{Timestamp: t0, SessionID: "a", Tokens: Tokens{Output: 5}}, &Record{Timestamp: t0, SessionID: "b", Tokens: Tokens{Output: 5}}, true},
		{"equal, larger session loses", &Record{Timestamp: t0, SessionID: "b", Tokens: Tokens{Output: 5}}, &Record{Timestamp: t0, SessionID: "a", Tokens: Tokens{Output: 5}}, false},
		{"equal session, smaller project wins", &Record{Timestamp: t0, SessionID: "a", Project: "/a", Tokens: Tokens{Output: 5}}, &Record{Timestamp: t0, SessionID: "a", Project: "/b", Tokens: Tokens{Output: 5}}, true},
	}
	for _, tt := range tests {
		if got := tt.r.Prefer(tt.old); got != tt.want {
			t.Errorf("%s: Prefer = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFilterContains(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &Record{Timestamp: t0, Project: "/p", Model: "m", SessionID: "s", User: "u"}
	tests := []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{Since: t0}, true},
		{Filter{Since: t0.Add(time.Nanosecond)}, false},
		{Filter{Until: t0}, false},
		{Filter{Until: t0.Add(time.Nanosecond)}, true},
		{Filter{Project: "/p", Model: "m", SessionID: "s", User: "u"}, true},
		{Filter{Project: "/q"}, false},
		{Filter{Model: "x"}, false},
		{Filter{SessionID: "x"}, false},
		{Filter{User: "x"}, false},
	}
	for i, tt := range tests {
		if got := tt.f.Contains(r); got != tt.want {
			t.Errorf("case %d: Contains = %v, want %v", i, got, tt.want)
		}
	}
}

func TestRollup(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 23, 45, 0, 0, time.UTC)
	buckets := []Bucket{
		{Key: "b", Model: "opus", Tokens: Tokens{Input: 1_000_000}, Cost: MoneyPerUSD, Entries: 1, First: t0, Last: t0, Project: "/one"},
		{Key: "a", Model: "haiku", Tokens: Tokens{Output: 3_000_000}, Cost: 3 * MoneyPerUSD, Entries: 2, First: t0.Add(time.Hour), Last: t0.Add(2 * time.Hour)},
		{Key: "b", Model: "opus", Tokens: Tokens{CacheRead: 1_000_000}, Cost: 2 * MoneyPerUSD, Entries: 1, First: t0.Add(-time.Hour), Last: t0.Add(time.Hour), Project: "/two"},
		{Key: "b", Model: "mystery", Tokens: Tokens{Input: 5}, Entries: 1, First: t0, Last: t0},
	}
	rep := Rollup(buckets, unitPricer{}, func(b *Bucket) string { return b.Key })
	if len(rep.Groups) != 2 || rep.Groups[0].Key != "a" || rep.Groups[1].Key != "b" {
		t.Fatalf("groups = %+v, want a then b", rep.Groups)
	}
	b := rep.Groups[1]
	if b.CostUSD != 3*MoneyPerUSD || b.Entries != 3 || b.Input != 1_000_005 || b.CacheRead != 1_000_000 {
		t.Errorf("group b = %+v", b.Aggregate)
	}
	if b.Project != "/two" {
		t.Errorf("group b project = %q, want the latest bucket's /two", b.Project)
	}
	if !b.First.Equal(t0.Add(-time.Hour)) || !b.Last.Equal(t0.Add(time.Hour)) {
		t.Errorf("group b span = %v..%v", b.First, b.Last)
	}
	if got := fmt.Sprint(b.ModelNames()); got != "[opus mystery]" {
		t.Errorf("group b models = %s, want opus (by cost) then mystery", got)
	}
	if rep.Totals.CostUSD != 6*MoneyPerUSD || rep.Totals.Entries != 5 || rep.Totals.TotalTokens != 5_000_005 {
		t.Errorf("totals = %+v", rep.Totals.Aggregate)
	}
	if rep.Totals.CacheCreationTokens != 0 || rep.Totals.CacheHitRate == 0 {
		t.Errorf("derived totals = %+v", rep.Totals.Aggregate)
	}
	if fmt.Sprint(rep.Unpriced) != "[mystery]" {
		t.Errorf("unpriced = %v", rep.Unpriced)
	}
	// Groups add up to the totals.
	var sum Money
	var entries int64
	for _, g := range rep.Groups {
		sum += g.CostUSD
		entries += g.Entries
	}
	if sum != rep.Totals.CostUSD || entries != rep.Totals.Entries {
		t.Errorf("groups sum to %v/%d, totals %v/%d", sum, entries, rep.Totals.CostUSD, rep.Totals.Entries)
	}
	if empty := Rollup(nil, unitPricer{}, nil); len(empty.Groups) != 0 || empty.Totals.Entries != 0 {
		t.Errorf("empty rollup = %+v", empty)
	}
}

func TestPeriodLabels(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// 2026-01-04 (a Sunday) 20:00 UTC is Monday 05:00 in Tokyo.
	ts := time.Date(2026, 1, 4, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		p    Period
		loc  *time.Location
		want string
	}{
		{Hour, time.UTC, "2026-01-04T20"},
		{Day, time.UTC, "2026-01-04"},
		{Week, time.UTC, "2025-12-29"},
		{Month, time.UTC, "2026-01"},
		{Day, tokyo, "2026-01-05"},
		{Week, tokyo, "2026-01-05"},
		{Hour, tokyo, "2026-01-05T05"},
	}
	for _, tt := range tests {
		if got := tt.p.Label(ts, tt.loc); got != tt.want {
			t.Errorf("%s.Label in %s = %s, want %s", tt.p, tt.loc, got, tt.want)
		}
		b := &Bucket{Time: ts}
		if got := tt.p.KeyFunc(tt.loc)(b); got != tt.want {
			t.Errorf("%s.KeyFunc in %s = %s, want %s", tt.p, tt.loc, got, tt.want)
		}
	}
}

func TestPeriodStartNext(t *testing.T) {
	ts := time.Date(2026, 1, 7, 13, 45, 10, 0, time.UTC) // a Wednesday
	tests := []struct {
		p           Period
		start, next time.Time
	}{
		{Hour, time.Date(2026, 1, 7, 13, 0, 0, 0, time.UTC), time.Date(2026, 1, 7, 14, 0, 0, 0, time.UTC)},
		{Day, time.Date(2026, 1, 7, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 8, 0, 0, 0, 0, time.UTC)},
		{Week, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 12, 0, 0, 0, 0, time.UTC)},
		{Month, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		start := tt.p.Start(ts)
		if !start.Equal(tt.start) {
			t.Errorf("%s.Start = %v, want %v", tt.p, start, tt.start)
		}
		if next := tt.p.Next(start); !next.Equal(tt.next) {
			t.Errorf("%s.Next = %v, want %v", tt.p, next, tt.next)
		}
	}
	// A Sunday belongs to the week that started six days before.
	if got := WeekStart(time.Date(2026, 1, 11, 23, 0, 0, 0, time.UTC)); got.Day() != 5 {
		t.Errorf("WeekStart(Sunday 11th) = %v, want Monday 5th", got)
	}
}

func TestDayRange(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	from, to, err := DayRange("2026-03-08", "2026-03-08", ny) // DST starts that day
	if err != nil {
		t.Fatal(err)
	}
	if got := to.Sub(from); got != 23*time.Hour {
		t.Errorf("DST day spans %v, want 23h", got)
	}
	if from.UTC().Hour() != 5 {
		t.Errorf("from = %v, want 05:00 UTC", from.UTC())
	}
	if f, u, err := DayRange("", "", time.UTC); err != nil || !f.IsZero() || !u.IsZero() {
		t.Errorf("open range = %v %v %v", f, u, err)
	}
	bad := []struct{ since, until, wantMsg string }{
		{"2026-13-01", "", "since"},
		{"", "yesterday", "until"},
		{"2026-02-02", "2026-02-01", "after"},
	}
	for _, tt := range bad {
		_, _, err := DayRange(tt.since, tt.until, time.UTC)
		if ErrorCode(err) != EINVALID {
			t.Errorf("DayRange(%q, %q) error = %v, want EINVALID", tt.since, tt.until, err)
			continue
		}
		if msg := ErrorMessage(err); !strings.Contains(msg, tt.wantMsg) {
			t.Errorf("DayRange(%q, %q) message %q does not mention %q", tt.since, tt.until, msg, tt.wantMsg)
		}
	}
}

func TestErrors(t *testing.T) {
	e := Errorf(ENOTFOUND, "session %q not found", "x")
	wrapped := fmt.Errorf("lookup: %w", e)
	if ErrorCode(wrapped) != ENOTFOUND || ErrorMessage(wrapped) != `session "x" not found` {
		t.Errorf("wrapped domain error: code %q message %q", ErrorCode(wrapped), ErrorMessage(wrapped))
	}
	if e.Error() != `not_found: session "x" not found` {
		t.Errorf("Error() = %q", e.Error())
	}
	plain := errors.New("disk on fire at /secret/path")
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "internal error" {
		t.Errorf("plain error: code %q message %q", ErrorCode(plain), ErrorMessage(plain))
	}
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Error("nil error has a code or message")
	}
}

func TestKeyFuncMatchesLabel(t *testing.T) {
	// Across DST changes (half-hour ones too), odd offsets, years before
	// 1970 and buckets in and out of order, the cached label is Label's.
	var locs []*time.Location
	for _, name := range []string{"UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Europe/Amsterdam", "Pacific/Chatham", "America/Santiago"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Skipf("zone %s: %v", name, err)
		}
		locs = append(locs, loc)
	}
	var times []time.Time
	for _, start := range []time.Time{
		time.Date(1935, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 20, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 9, 20, 0, 0, 0, 0, time.UTC),
	} {
		for q := range 96 * 60 {
			times = append(times, start.Add(time.Duration(q)*15*time.Minute))
		}
	}
	shuffled := slices.Clone(times)
	for i := range shuffled {
		j := (i*7919 + 13) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	for _, loc := range locs {
		for _, p := range []Period{Hour, Day, Week, Month} {
			for _, ts := range [][]time.Time{times, shuffled} {
				key := p.KeyFunc(loc)
				for _, tm := range ts {
					if got, want := key(&Bucket{Time: tm}), p.Label(tm, loc); got != want {
						t.Fatalf("%s %s: KeyFunc(%v) = %q, want %q", loc, p, tm, got, want)
					}
				}
			}
		}
	}
}
