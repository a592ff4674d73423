package views

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Periods are the named periods of PeriodSpan, in days; 0 is all time.
var Periods = map[string]int{"7d": 7, "30d": 30, "90d": 90, "all": 0}

// periodNames lists the periods for error messages.
const periodNames = "7d, 30d, 90d or all"

// MaxRangeDays bounds day-by-day ranges so that one question cannot ask
// for an unbounded number of rows.
const MaxRangeDays = 3660

// LastDays returns the span of the last n calendar days, today included.
func (v *Views) LastDays(n int) Span {
	today := v.Today()
	from := today.AddDate(0, 0, -(n - 1))
	return Span{
		From:      from,
		To:        today.AddDate(0, 0, 1),
		StartDate: from.Format(time.DateOnly),
		EndDate:   today.Format(time.DateOnly),
	}
}

// PeriodSpan returns the span of a named period (see Periods), def when
// name is "". "all" starts at the first stored record, so that labels do
// not begin in 1970. An unknown name is EINVALID naming the period.
func (v *Views) PeriodSpan(ctx context.Context, name, def string) (string, Span, error) {
	if name == "" {
		name = def
	}
	days, ok := Periods[name]
	if !ok {
		return "", Span{}, usage.Errorf(usage.EINVALID, "period: %q is not one of %s", name, periodNames)
	}
	if days > 0 {
		return name, v.LastDays(days), nil
	}
	first, err := v.firstActivity(ctx)
	if err != nil {
		return "", Span{}, err
	}
	sp := v.LastDays(1)
	if !first.IsZero() {
		sp.From = usage.Day.Start(first.In(v.loc()))
		sp.StartDate = sp.From.Format(time.DateOnly)
	}
	return name, sp, nil
}

// firstActivity returns the timestamp of the oldest record, or zero.
func (v *Views) firstActivity(ctx context.Context) (time.Time, error) {
	buckets, err := v.Store.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
	if err != nil {
		return time.Time{}, err
	}
	var first time.Time
	for _, b := range buckets {
		if !b.First.IsZero() && (first.IsZero() || b.First.Before(first)) {
			first = b.First
		}
	}
	return first, nil
}

// DateSpan parses an inclusive range of YYYY-MM-DD days, named start_date
// and end_date in errors (EINVALID). With defDays > 0 the default is the
// last defDays days and a missing bound is set relative to the other; with
// defDays == 0 missing bounds stay open. Whenever both bounds are set the
// range may cover at most MaxRangeDays days, so that no view built day by
// day is unbounded.
func (v *Views) DateSpan(startDate, endDate string, defDays int) (Span, error) {
	if startDate == "" && endDate == "" {
		if defDays == 0 {
			return Span{}, nil
		}
		return v.LastDays(defDays), nil
	}
	// Presence is tracked apart from the values: 0001-01-01 in UTC is Go's
	// zero time, which must not read as "no bound".
	hasStart, hasEnd := startDate != "", endDate != ""
	var start, end time.Time
	var err error
	if hasStart {
		if start, err = v.dayParam("start_date", startDate); err != nil {
			return Span{}, err
		}
	}
	if hasEnd {
		if end, err = v.dayParam("end_date", endDate); err != nil {
			return Span{}, err
		}
	}
	if defDays > 0 {
		switch {
		case !hasEnd:
			if end = v.Today(); end.Before(start) {
				end = start
			}
		case !hasStart:
			start = end.AddDate(0, 0, -(defDays - 1))
		}
		hasStart, hasEnd = true, true
	}
	if hasStart && hasEnd {
		if start.After(end) {
			return Span{}, usage.Errorf(usage.EINVALID, "start_date: %s is after end_date %s",
				start.Format(time.DateOnly), end.Format(time.DateOnly))
		}
		if days := dayCount(start, end); days > MaxRangeDays {
			return Span{}, usage.Errorf(usage.EINVALID, "start_date: the range %s..%s spans more than %d days; ask for at most %d days at a time",
				start.Format(time.DateOnly), end.Format(time.DateOnly), MaxRangeDays, MaxRangeDays)
		}
	}
	var sp Span
	if hasStart {
		sp.From, sp.StartDate = start, start.Format(time.DateOnly)
	}
	if hasEnd {
		sp.To, sp.EndDate = end.AddDate(0, 0, 1), end.Format(time.DateOnly)
	}
	return sp, nil
}

// dayParam parses one YYYY-MM-DD day of years 1 to 9999; Go also reads
// year 0, which no calendar view can label.
func (v *Views) dayParam(name, s string) (time.Time, error) {
	t, err := usage.ParseDay(s, v.loc())
	if err != nil || t.Year() < 1 {
		return time.Time{}, usage.Errorf(usage.EINVALID, "%s: %q is not a date in YYYY-MM-DD form (years 0001 to 9999)", name, s)
	}
	return t, nil
}

// dayCount returns how many calendar days [start, end] covers, counting
// no further than MaxRangeDays+1.
func dayCount(start, end time.Time) int {
	n := 0
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		n++
		if n > MaxRangeDays {
			break
		}
	}
	return n
}

// dayPattern is the shape of a day argument: YYYY-MM-DD or ccusage's
// YYYYMMDD. It is compiled on first use, not at every process start:
// most commands take no day.
var dayPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d{4})-?(\d{2})-?(\d{2})$`)
})

// NormalizeDay checks the day argument name (the CLI's --since, the MCP
// tools' since) and returns it as YYYY-MM-DD, the form ReportQuery takes;
// it accepts ccusage's YYYYMMDD too. An empty value stays empty. The
// EINVALID error names the argument and tells a malformed value from a
// well-formed date that does not exist, such as 2026-13-45.
func NormalizeDay(name, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	m := dayPattern().FindStringSubmatch(s)
	if m == nil || strings.Count(s, "-") == 1 {
		return "", usage.Errorf(usage.EINVALID, "%s: %q is not a date: use YYYY-MM-DD or YYYYMMDD", name, s)
	}
	day := m[1] + "-" + m[2] + "-" + m[3]
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		why := "there is no month " + m[2]
		if month, err := time.Parse("2006-01", m[1]+"-"+m[2]); err == nil {
			why = month.Format("January 2006") + " has no day " + m[3]
		}
		return "", usage.Errorf(usage.EINVALID, "%s: %q is not a valid date: %s", name, s, why)
	}
	return day, nil
}
