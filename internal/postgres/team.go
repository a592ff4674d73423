package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// tokenPrefix marks ctm push tokens so that a leaked one is recognisable
// (e.g. by secret scanners) and a pasted admin token is not mistaken for one.
const tokenPrefix = "ctm_"

// hashToken returns the SHA-256 of a token, which is what is stored.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateToken creates a push token for user: 32 random bytes, base64url,
// behind tokenPrefix. Only its hash is stored. Returns EINVALID for a bad
// user name (see usage.ValidName).
func (s *Store) CreateToken(ctx context.Context, user string) (string, error) {
	if err := usage.ValidName("user", user); err != nil {
		return "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	if _, err := s.pool.Exec(ctx, `INSERT INTO tokens (user_name, hash, created_at) VALUES ($1, $2, $3)`,
		user, hashToken(token), s.Now()); err != nil {
		return "", fmt.Errorf("create token: %w", formatError(err))
	}
	return token, nil
}

// UserForToken returns the user that token belongs to, or EUNAUTHORIZED.
// The lookup is by hash, so the database never sees the token, and the
// stored hash is compared in constant time once more, so that no code
// path compares secrets byte by byte.
func (s *Store) UserForToken(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", usage.Errorf(usage.EUNAUTHORIZED, "no token")
	}
	want := hashToken(token)
	var (
		user   string
		stored []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT user_name, hash FROM tokens WHERE hash = $1`, want).Scan(&user, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", usage.Errorf(usage.EUNAUTHORIZED, "invalid token")
	}
	if err != nil {
		return "", fmt.Errorf("user for token: %w", formatError(err))
	}
	if subtle.ConstantTimeCompare(stored, want) != 1 {
		return "", usage.Errorf(usage.EUNAUTHORIZED, "invalid token")
	}
	return user, nil
}

// Users lists every user that holds a token or has records, sorted by
// name, with their record totals, machines and token count.
func (s *Store) Users(ctx context.Context) ([]usage.UserTotals, error) {
	byUser := map[string]*usage.UserTotals{}
	get := func(name string) *usage.UserTotals {
		u := byUser[name]
		if u == nil {
			u = &usage.UserTotals{User: name, Machines: []string{}}
			byUser[name] = u
		}
		return u
	}
	rows, err := s.pool.Query(ctx, `SELECT user_name, sum(input)::bigint, sum(output)::bigint,
		sum(cache_creation_5m)::bigint, sum(cache_creation_1h)::bigint, sum(cache_read)::bigint,
		sum(web_search_requests)::bigint, count(*), min(ts), max(ts),
		array_agg(DISTINCT machine ORDER BY machine) FILTER (WHERE machine <> '')
		FROM records GROUP BY user_name`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", formatError(err))
	}
	for rows.Next() {
		var (
			name        string
			t           usage.Tokens
			n           int64
			first, last time.Time
			machines    []string
		)
		if err := rows.Scan(&name, &t.Input, &t.Output, &t.CacheCreation5m, &t.CacheCreation1h,
			&t.CacheRead, &t.WebSearchRequests, &n, &first, &last, &machines); err != nil {
			rows.Close()
			return nil, fmt.Errorf("users: %w", formatError(err))
		}
		u := get(name)
		u.Tokens, u.Entries, u.First, u.Last = t, n, first.UTC(), last.UTC()
		if machines != nil {
			u.Machines = machines
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: %w", formatError(err))
	}
	rows, err = s.pool.Query(ctx, `SELECT user_name, count(*) FROM tokens GROUP BY user_name`)
	if err != nil {
		return nil, fmt.Errorf("users: tokens: %w", formatError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name string
			n    int
		)
		if err := rows.Scan(&name, &n); err != nil {
			return nil, fmt.Errorf("users: tokens: %w", formatError(err))
		}
		get(name).TokenCount = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: tokens: %w", formatError(err))
	}
	out := make([]usage.UserTotals, 0, len(byUser))
	for _, u := range byUser {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b usage.UserTotals) int { return cmp.Compare(a.User, b.User) })
	return out, nil
}
