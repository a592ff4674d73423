package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// periods are the accepted values of the period parameter, in days; 0 is
// all time.
var periods = map[string]int{"7d": 7, "30d": 30, "90d": 90, "all": 0}

// periodNames lists the accepted periods for error messages.
const periodNames = "7d, 30d, 90d or all"

// maxRangeDays bounds day-by-day ranges so one request cannot ask for an
// unbounded number of rows.
const maxRangeDays = 3660

// span is a half-open range of instants [from, to) plus its inclusive
// calendar dates in the server's time zone. A zero from is open.
type span struct {
	from, to  time.Time
	startDate string
	endDate   string
}

// filter returns the usage filter selecting the span.
func (sp span) filter() usage.Filter { return usage.Filter{Since: sp.from, Until: sp.to} }

// view returns the span as the views take it.
func (sp span) view() views.Span {
	return views.Span{From: sp.from, To: sp.to, StartDate: sp.startDate, EndDate: sp.endDate}
}

// views returns the views of the records the request of ctx may see.
func (s *Server) views(ctx context.Context) *views.Views {
	v := &views.Views{Store: s.store, Prices: s.opts.Pricer, Location: s.opts.Location, Now: s.opts.Now,
		Partial: userFrom(ctx) != ""}
	if rs, ok := s.opts.Store.(usage.RateLimitStore); ok {
		v.RateLimits = rs
	}
	return v
}

// today returns midnight of the current day in the server's time zone.
func (s *Server) today() time.Time {
	return usage.Day.Start(s.opts.Now().In(s.opts.Location))
}

// lastDays returns the span of the last n calendar days, today included.
func (s *Server) lastDays(n int) span {
	today := s.today()
	from := today.AddDate(0, 0, -(n - 1))
	return span{
		from:      from,
		to:        today.AddDate(0, 0, 1),
		startDate: from.Format(time.DateOnly),
		endDate:   today.Format(time.DateOnly),
	}
}

// periodSpan parses the period parameter (7d|30d|90d|all) with a default.
// "all" starts at the first stored record, so labels do not begin in 1970.
func (s *Server) periodSpan(ctx context.Context, q url.Values, def string) (string, span, error) {
	name := q.Get("period")
	if name == "" {
		name = def
	}
	days, ok := periods[name]
	if !ok {
		return "", span{}, invalid("period: %q is not one of %s", name, periodNames)
	}
	if days > 0 {
		return name, s.lastDays(days), nil
	}
	first, err := s.firstActivity(ctx)
	if err != nil {
		return "", span{}, err
	}
	sp := s.lastDays(1)
	if !first.IsZero() {
		sp.from = usage.Day.Start(first.In(s.opts.Location))
		sp.startDate = sp.from.Format(time.DateOnly)
	}
	return name, sp, nil
}

// firstActivity returns the timestamp of the oldest record, or zero.
func (s *Server) firstActivity(ctx context.Context) (time.Time, error) {
	buckets, err := s.store.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
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

// dateSpan parses start_date and end_date (YYYY-MM-DD, inclusive). With
// defDays > 0 the default is the last defDays days and a missing bound is
// set relative to the other; with defDays == 0 missing bounds stay open.
// Whenever both bounds are set the range may cover at most maxRangeDays
// days, so no response built day by day is unbounded.
func (s *Server) dateSpan(startParam, endParam string, defDays int) (span, error) {
	if startParam == "" && endParam == "" {
		if defDays == 0 {
			return span{}, nil
		}
		return s.lastDays(defDays), nil
	}
	// Presence is tracked apart from the values: 0001-01-01 in UTC is Go's
	// zero time, which must not read as "no bound".
	hasStart, hasEnd := startParam != "", endParam != ""
	var start, end time.Time
	var err error
	if hasStart {
		if start, err = s.dayParam("start_date", startParam); err != nil {
			return span{}, err
		}
	}
	if hasEnd {
		if end, err = s.dayParam("end_date", endParam); err != nil {
			return span{}, err
		}
	}
	if defDays > 0 {
		switch {
		case !hasEnd:
			if end = s.today(); end.Before(start) {
				end = start
			}
		case !hasStart:
			start = end.AddDate(0, 0, -(defDays - 1))
		}
		hasStart, hasEnd = true, true
	}
	if hasStart && hasEnd {
		if start.After(end) {
			return span{}, invalid("start_date: %s is after end_date %s",
				start.Format(time.DateOnly), end.Format(time.DateOnly))
		}
		if days := dayCount(start, end); days > maxRangeDays {
			return span{}, invalid("start_date: the range %s..%s spans more than %d days; ask for at most %d days at a time",
				start.Format(time.DateOnly), end.Format(time.DateOnly), maxRangeDays, maxRangeDays)
		}
	}
	var sp span
	if hasStart {
		sp.from, sp.startDate = start, start.Format(time.DateOnly)
	}
	if hasEnd {
		sp.to, sp.endDate = end.AddDate(0, 0, 1), end.Format(time.DateOnly)
	}
	return sp, nil
}

// dayParam parses one YYYY-MM-DD parameter of years 1 to 9999; Go also
// reads year 0, which no calendar view can label.
func (s *Server) dayParam(name, v string) (time.Time, error) {
	t, err := usage.ParseDay(v, s.opts.Location)
	if err != nil || t.Year() < 1 {
		return time.Time{}, invalid("%s: %q is not a date in YYYY-MM-DD form (years 0001 to 9999)", name, v)
	}
	return t, nil
}

// dayCount returns how many calendar days [start, end] covers, counting
// no further than maxRangeDays+1.
func dayCount(start, end time.Time) int {
	n := 0
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		n++
		if n > maxRangeDays {
			break
		}
	}
	return n
}

// intParam parses an optional integer parameter within [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		if hi == maxInt {
			return 0, invalid("%s: %q is not an integer >= %d", name, v, lo)
		}
		return 0, invalid("%s: %q is not an integer in %d..%d", name, v, lo, hi)
	}
	return n, nil
}

const maxInt = int(^uint(0) >> 1)

// enumParam parses an optional parameter that must be one of allowed.
func enumParam(q url.Values, name, def string, allowed ...string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", invalid("%s: %q is not one of %s", name, v, strings.Join(allowed, ", "))
}

// timeParam parses an optional RFC 3339 timestamp.
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalid("%s: %q is not an RFC 3339 timestamp", name, v)
	}
	return t, nil
}

// pagination is the paging block of list responses.
type pagination struct {
	Total   int64 `json:"total"`
	Limit   int   `json:"limit"`
	Offset  int   `json:"offset"`
	HasMore bool  `json:"has_more"`
}

// newPagination describes the page of n items at offset among total;
// offset may be anything up to maxInt, so nothing here adds to it.
func newPagination(total int64, limit, offset, n int) pagination {
	return pagination{Total: total, Limit: limit, Offset: offset, HasMore: int64(offset) < total-int64(n)}
}

// pageBounds returns the bounds [lo, hi) of the page of limit items at
// offset in a list of n, without overflow for any offset and limit >= 0.
func pageBounds(n, offset, limit int) (lo, hi int) {
	lo = min(offset, n)
	return lo, lo + min(limit, n-lo)
}

// pageParams parses limit (1..500) and offset (>= 0).
func pageParams(q url.Values, defLimit int) (limit, offset int, err error) {
	if limit, err = intParam(q, "limit", defLimit, 1, 500); err != nil {
		return 0, 0, err
	}
	if offset, err = intParam(q, "offset", 0, 0, maxInt); err != nil {
		return 0, 0, err
	}
	return limit, offset, nil
}

// rollup aggregates the records that pass f by dim and rolls them up by
// key. It is the one path every figure of the API takes.
func (s *Server) rollup(ctx context.Context, f usage.Filter, dim usage.Dimension, key func(*usage.Bucket) string) (usage.Report, error) {
	buckets, err := s.store.Aggregate(ctx, f, dim)
	if err != nil {
		return usage.Report{}, fmt.Errorf("aggregate: %w", err)
	}
	return usage.Rollup(buckets, s.opts.Pricer, key), nil
}

// byKey groups buckets by their Key (session, project).
func byKey(b *usage.Bucket) string { return b.Key }

// byNothing puts every bucket in one group.
func byNothing(*usage.Bucket) string { return "" }

// groupMap indexes a report's groups by key.
func groupMap(r usage.Report) map[string]*usage.Group {
	m := make(map[string]*usage.Group, len(r.Groups))
	for i := range r.Groups {
		m[r.Groups[i].Key] = &r.Groups[i]
	}
	return m
}

// unpriced returns r's unpriced models, never nil, so that JSON always
// carries the list.
func unpriced(r usage.Report) []string {
	if r.Unpriced == nil {
		return []string{}
	}
	return r.Unpriced
}

// timeOrNil returns t in the server's zone, or nil when t is zero, so that
// JSON leaves unknown times out instead of printing year 1.
func (s *Server) timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(s.opts.Location)
	return &t
}

// userFilterKey is the context key of the user a request's views are
// narrowed to (the user parameter).
const userFilterKey contextKey = requestInfoKey + 1

// userParam reads the optional user parameter (team mode): "" when absent,
// EINVALID naming the parameter when it is not a valid user name.
func userParam(q url.Values) (string, error) {
	if !q.Has("user") {
		return "", nil
	}
	name := q.Get("user")
	if err := usage.ValidName("user", name); err != nil {
		return "", invalid("user: %s", usage.ErrorMessage(err))
	}
	return name, nil
}

// withUser returns ctx narrowed to user's records; "" leaves it as is.
func withUser(ctx context.Context, user string) context.Context {
	if user == "" {
		return ctx
	}
	return context.WithValue(ctx, userFilterKey, user)
}

// userFrom returns the user ctx is narrowed to, or "".
func userFrom(ctx context.Context) string {
	u, _ := ctx.Value(userFilterKey).(string)
	return u
}

// filterUser returns f narrowed to the user of ctx, unless f already
// names a user. Every store read of a request passes through it (see
// userStore), so each view cuts the same user's records.
func filterUser(ctx context.Context, f usage.Filter) usage.Filter {
	if f.User == "" {
		f.User = userFrom(ctx)
	}
	return f
}

// scoped makes h a per-user view: it reads the user parameter into the
// request context, or answers 400 when it is invalid.
func (s *Server) scoped(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, err := userParam(r.URL.Query())
		if err != nil {
			writeError(w, r, err)
			return
		}
		h(w, r.WithContext(withUser(r.Context(), user)))
	}
}
