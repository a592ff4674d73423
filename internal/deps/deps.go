// Package deps pins the project's chosen dependencies in go.mod while the
// packages that use them are being written. It is deleted once they are.
package deps

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/coder/websocket"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/term"
	_ "modernc.org/sqlite"
)
