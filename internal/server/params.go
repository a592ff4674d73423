package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// span is a half-open range of instants with its inclusive calendar dates
// in the server's time zone.
type span = views.Span

// views returns the views of the records the request of ctx may see.
func (s *Server) views(ctx context.Context) *views.Views {
	v := &views.Views{Store: s.store(), Prices: s.opts.Pricer, Location: s.opts.Location, Now: s.opts.Now, DisplayName: s.opts.DisplayName,
		Partial: userFrom(ctx) != ""}
	if rs, ok := s.opts.Store.(usage.RateLimitStore); ok {
		v.RateLimits = rs
	}
	return v
}

// periodSpan parses the period parameter (7d|30d|90d|all) with a default.
func (s *Server) periodSpan(ctx context.Context, q url.Values, def string) (string, span, error) {
	return s.views(ctx).PeriodSpan(ctx, q.Get("period"), def)
}

// dateSpan parses start_date and end_date; see views.Views.DateSpan.
func (s *Server) dateSpan(startParam, endParam string, defDays int) (span, error) {
	return s.views(context.Background()).DateSpan(startParam, endParam, defDays)
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
