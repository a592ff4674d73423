// Package browsertest drives the dashboard in a real, headless Chromium
// (Debian's /usr/bin/chromium through chromedp) against a real server: the
// real corpus ingested into SQLite, internal/server with the embedded
// dashboard, on 127.0.0.1. It holds only tests; they skip with a message
// when no Chromium is installed, and never download a browser.
//
// Screenshots and performance figures are written to the directory named by
// CTM_ARTIFACTS, or to a temporary directory whose path the tests log.
package browsertest
