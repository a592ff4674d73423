package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// Records and prompts are found by key through key_hash, a 64-bit hash of
// the key, and not through an index of the keys themselves (migrations
// 0114 and 0115). On 2 GB of long sessions the index of the records'
// 53-byte keys, in random order, was the costliest index a first index
// builds (410-500 ms; the hashes' takes 310-340 ms) and 18 MB against
// 4.8 MB, so every later insert also read and dirtied more pages of it: a
// report after a 1 MB append read 1,376 pages and wrote 2,244, now 1,030
// and 1,654. The prompts' keys (73 bytes) took 7.9 MB, their hashes 1.6.
// The hash decides nothing on its own: a lookup reads every row of the
// hashes it asks for and keeps those whose key is the one looked for, so
// two keys with one hash are two rows (the tests make every key collide).

// keyHash returns the key_hash of key. A variable so that tests can make
// keys collide; the SQL function ctm_key_hash, which migration 0114 calls,
// is the same function.
var keyHash = fnv1a

// fnv1a is the 64-bit FNV-1a hash of s, as an int64 for SQLite: what
// hash/fnv's New64a sums, without a hasher and a copy of s per key.
func fnv1a(s string) int64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return int64(h)
}

// registerKeyHash makes ctm_key_hash(CAST(key AS BLOB)) available to the
// connections the driver opens from now on; Open calls it before it
// connects.
var registerKeyHash = sync.OnceValue(func() error {
	return sqlite.RegisterDeterministicScalarFunction("ctm_key_hash", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			// A blob: the driver passes text as far as its first NUL.
			k, ok := args[0].([]byte)
			if !ok {
				return nil, fmt.Errorf("ctm_key_hash: the key must be cast to a blob, not passed as %T", args[0])
			}
			return keyHash(string(k)), nil
		})
})

// lookupChunk is how many hashes one query of storedRows asks for.
const lookupChunk = 500

// storedRows returns the rowid of each of keys that table (record_rows
// or prompts) holds. It reads every row of the keys' hashes and keeps
// those whose key is one of keys: a key that shares its hash with another
// is not taken for it.
func storedRows(ctx context.Context, tx *sql.Tx, table string, keys []string) (map[string]int64, error) {
	want := make(map[string]bool, len(keys))
	hashes := make([]any, 0, min(len(keys), lookupChunk))
	asked := make(map[int64]bool, len(keys))
	at := map[string]int64{}
	lookup := func() error {
		if len(hashes) == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT rowid, key FROM `+table+` WHERE key_hash IN (?`+
			strings.Repeat(", ?", len(hashes)-1)+`)`, hashes...)
		if err != nil {
			return formatError(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id  int64
				key string
			)
			if err := rows.Scan(&id, &key); err != nil {
				return formatError(err)
			}
			if want[key] {
				at[key] = id
			}
		}
		if err := rows.Err(); err != nil {
			return formatError(err)
		}
		hashes = hashes[:0]
		return nil
	}
	// Every key is wanted before the first lookup: a row of a later
	// key, returned for a hash that an earlier key shares, must be kept.
	for _, k := range keys {
		want[k] = true
	}
	for _, k := range keys {
		if h := keyHash(k); !asked[h] {
			asked[h] = true
			hashes = append(hashes, h)
		}
		if len(hashes) == lookupChunk {
			if err := lookup(); err != nil {
				return nil, err
			}
		}
	}
	if err := lookup(); err != nil {
		return nil, err
	}
	return at, nil
}

// A release before 0114 opens a database of this one as current (see
// migrate) and, through its bulk path, writes records and prompts without
// a key_hash: the column's default, 0, under which no lookup finds them.
// Open gives such rows their hash before anything is applied.

// repairKeyHashes sets the key_hash of the rows whose key_hash is 0, when
// there are any; a key whose hash is 0 gets 0 again.
func (s *Store) repairKeyHashes(ctx context.Context) error {
	var stale bool
	if err := s.writer.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM record_rows WHERE key_hash = 0)
		OR EXISTS (SELECT 1 FROM prompts WHERE key_hash = 0)`).Scan(&stale); err != nil {
		return fmt.Errorf("key hashes: %w", formatError(err))
	}
	if !stale {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"record_rows", "prompts"} {
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET key_hash = ctm_key_hash(CAST(key AS BLOB))
				WHERE key_hash = 0`); err != nil {
				return fmt.Errorf("key hashes of %s: %w", table, formatError(err))
			}
		}
		return nil
	})
}
