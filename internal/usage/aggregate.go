package usage

import (
	"cmp"
	"slices"
	"time"
)

// Pricer is the price table in force. It is implemented by package
// pricing.
type Pricer interface {
	// Price returns the cost of one response. priced is false when its
	// model has no price; the cost is then 0.
	Price(r *Record) (cost Money, priced bool)
	// Priced reports whether model has a price.
	Priced(model string) bool
	// Fingerprint identifies the table's content: tables with equal
	// fingerprints price every record the same.
	Fingerprint() string
}

// Aggregate is a sum of records with its derived figures.
type Aggregate struct {
	Tokens
	CacheCreationTokens int64   `json:"cache_creation_tokens"`
	TotalTokens         int64   `json:"total_tokens"`
	CacheHitRate        float64 `json:"cache_hit_rate"`
	CostUSD             Money   `json:"cost_usd"`
	Entries             int64   `json:"entries"`
	// First and Last are the earliest and latest record timestamps.
	First time.Time `json:"-"`
	Last  time.Time `json:"-"`
}

func (a *Aggregate) add(b *Bucket) {
	a.Tokens = a.Tokens.Add(b.Tokens)
	a.CacheCreationTokens = a.Tokens.CacheCreation()
	a.TotalTokens = a.Tokens.Total()
	a.CacheHitRate = a.Tokens.CacheHitRate()
	a.CostUSD = a.CostUSD.Add(b.Cost)
	a.Entries += b.Entries
	if !b.First.IsZero() && (a.First.IsZero() || b.First.Before(a.First)) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
}

// ModelAggregate is one model's part of a Group.
type ModelAggregate struct {
	Model string `json:"model"`
	Aggregate
}

// Group is the sum of the buckets that share a key, with a per-model
// breakdown ordered by cost, highest first.
type Group struct {
	Key string
	Aggregate
	Models []ModelAggregate
	// Project is the project of the group's latest bucket (sessions).
	Project string
}

// ModelNames returns the group's models in breakdown order.
func (g *Group) ModelNames() []string {
	names := make([]string, len(g.Models))
	for i, m := range g.Models {
		names[i] = m.Model
	}
	return names
}

// Report is a set of groups and their totals. Groups, the totals and the
// totals' per-model breakdown always add up to the same figures.
type Report struct {
	Groups []Group
	Totals Group
	// Unpriced lists the models that had no price, sorted; their cost
	// counts as 0 and every report must say so.
	Unpriced []string
}

// Rollup sums buckets into groups by key(bucket), ordered by key, and names
// the models p has no price for. It is how every view is cut from the same
// records; costs are the records' own, summed as integers.
func Rollup(buckets []Bucket, p Pricer, key func(*Bucket) string) Report {
	type acc struct {
		g      Group
		models map[string]*ModelAggregate
	}
	groups := map[string]*acc{}
	totals := &acc{models: map[string]*ModelAggregate{}}
	unpriced := map[string]bool{}
	add := func(a *acc, b *Bucket) {
		a.g.add(b)
		if !b.Last.Before(a.g.Last) && b.Project != "" {
			a.g.Project = b.Project
		}
		m := a.models[b.Model]
		if m == nil {
			m = &ModelAggregate{Model: b.Model}
			a.models[b.Model] = m
		}
		m.add(b)
	}
	priced := map[string]bool{}
	for i := range buckets {
		b := &buckets[i]
		known, seen := priced[b.Model]
		if !seen {
			known = p.Priced(b.Model)
			priced[b.Model] = known
		}
		if !known {
			unpriced[b.Model] = true
		}
		k := key(b)
		a := groups[k]
		if a == nil {
			a = &acc{g: Group{Key: k}, models: map[string]*ModelAggregate{}}
			groups[k] = a
		}
		add(a, b)
		add(totals, b)
	}
	finish := func(a *acc) Group {
		g := a.g
		for _, m := range a.models {
			g.Models = append(g.Models, *m)
		}
		slices.SortFunc(g.Models, func(x, y ModelAggregate) int {
			if c := cmp.Compare(y.CostUSD, x.CostUSD); c != 0 {
				return c
			}
			if c := cmp.Compare(y.TotalTokens, x.TotalTokens); c != 0 {
				return c
			}
			return cmp.Compare(x.Model, y.Model)
		})
		return g
	}
	r := Report{Totals: finish(totals)}
	for _, a := range groups {
		r.Groups = append(r.Groups, finish(a))
	}
	slices.SortFunc(r.Groups, func(x, y Group) int { return cmp.Compare(x.Key, y.Key) })
	for m := range unpriced {
		r.Unpriced = append(r.Unpriced, m)
	}
	slices.Sort(r.Unpriced)
	return r
}

// Period names a calendar cut of time in a time zone.
type Period string

// The calendar periods reports group by.
const (
	Hour  Period = "hour"
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// KeyFunc returns the function that labels a quarter-hour bucket with its
// period in loc: "2006-01-02T15" for hours, "2006-01-02" for days, the
// Monday "2006-01-02" for weeks and "2006-01" for months.
//
// The function formats a label once per period rather than once per
// bucket (27k quarter hours in a daily report of 512 MB of long sessions):
// it keeps the last label with the index of its period, which the wall
// clock in loc (the unix time plus the zone's offset at that instant)
// gives exactly, and buckets of one period mostly come in a row. It is
// not safe for concurrent use.
func (p Period) KeyFunc(loc *time.Location) func(*Bucket) string {
	var (
		have    bool
		lastIdx int64
		last    string
	)
	return func(b *Bucket) string {
		t := b.Time.In(loc)
		_, off := t.Zone()
		idx := p.index(t, t.Unix()+int64(off))
		if have && idx == lastIdx {
			return last
		}
		have, lastIdx, last = true, idx, p.Label(b.Time, loc)
		return last
	}
}

// index numbers the period of t whose wall clock, in seconds since the
// epoch, is local: equal numbers have equal labels.
func (p Period) index(t time.Time, local int64) int64 {
	floor := func(a, b int64) int64 {
		q := a / b
		if a%b != 0 && a < 0 {
			q--
		}
		return q
	}
	switch p {
	case Hour:
		return floor(local, 3600)
	case Week:
		// 1970-01-01 was a Thursday: three days after a Monday.
		return floor(floor(local, 86400)+3, 7)
	case Month:
		y, m, _ := t.Date()
		return int64(y)*12 + int64(m)
	default:
		return floor(local, 86400)
	}
}

// Label returns the label of the period that contains t in loc.
func (p Period) Label(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	switch p {
	case Hour:
		return t.Format("2006-01-02T15")
	case Week:
		return WeekStart(t).Format(time.DateOnly)
	case Month:
		return t.Format("2006-01")
	default:
		return t.Format(time.DateOnly)
	}
}

// Start returns the start of the period that contains t, in t's location.
func (p Period) Start(t time.Time) time.Time {
	y, m, d := t.Date()
	switch p {
	case Hour:
		return time.Date(y, m, d, t.Hour(), 0, 0, 0, t.Location())
	case Week:
		return WeekStart(t)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	}
}

// Next returns the start of the period after the one that starts at t.
func (p Period) Next(t time.Time) time.Time {
	switch p {
	case Hour:
		return t.Add(time.Hour)
	case Week:
		return t.AddDate(0, 0, 7)
	case Month:
		return t.AddDate(0, 1, 0)
	default:
		return t.AddDate(0, 0, 1)
	}
}

// WeekStart returns midnight of the Monday that starts t's ISO week, in t's
// location.
func WeekStart(t time.Time) time.Time {
	y, m, d := t.Date()
	back := (int(t.Weekday()) + 6) % 7 // days since Monday
	return time.Date(y, m, d-back, 0, 0, 0, 0, t.Location())
}

// ParseDay parses a YYYY-MM-DD date as midnight in loc.
func ParseDay(s string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, Errorf(EINVALID, "%q is not a date in YYYY-MM-DD form", s)
	}
	return t, nil
}

// DayRange turns an inclusive range of YYYY-MM-DD dates in loc into the
// [since, until) instants of a Filter. Empty strings leave a bound open.
// Returns EINVALID naming the bad bound, or when since is after until.
func DayRange(since, until string, loc *time.Location) (from, to time.Time, err error) {
	if since != "" {
		if from, err = ParseDay(since, loc); err != nil {
			return from, to, Errorf(EINVALID, "since: %s", ErrorMessage(err))
		}
	}
	if until != "" {
		last, err := ParseDay(until, loc)
		if err != nil {
			return from, to, Errorf(EINVALID, "until: %s", ErrorMessage(err))
		}
		to = last.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, Errorf(EINVALID, "since %s is after until %s", since, until)
	}
	return from, to, nil
}
