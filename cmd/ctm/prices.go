package main

import (
	"context"
	"errors"

	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/pricing"
)

// maxPriceFile bounds a downloaded price file; the real one is 10 KB.
const maxPriceFile = 4 << 20

// runPrices prints the price table in force, or with "update" fetches a
// newer one.
func runPrices(ctx context.Context, args []string, env *environ) int {
	if len(args) > 0 && args[0] == "update" {
		return runPricesUpdate(ctx, args[1:], env)
	}
	fs := newFlagSet("prices", env.stderr, "ctm prices [--json] | ctm prices update [--url URL]",
		"Prints the price table in force: each model's rates in USD per million tokens (input / output /\n"+
			"5-minute cache write / 1-hour cache write / cache read), its rules, and where the entry came\n"+
			"from (embedded, refreshed by `ctm prices update`, or PRICING_FILE). With --json it prints the\n"+
			"table in the format PRICING_FILE accepts.")
	asJSON := fs.Bool("json", false, "print the table as a price file")
	cfg, code := env.loadConfig(fs, args, config.DataFlags)
	if code != 0 {
		return max(code, 0)
	}
	tab, err := pricing.Load(pricing.Options{UserFile: cfg.PricingFile, Refreshed: cfg.RefreshedPrices()})
	if err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return 1
	}
	if *asJSON {
		data, err := tab.JSON()
		if err != nil {
			fmt.Fprintf(env.stderr, "ctm: %v\n", err)
			return 1
		}
		env.stdout.Write(data)
		return 0
	}
	fmt.Fprintf(env.stdout, "Prices as of %s (%s)\nUSD per million tokens: input / output / 5m cache write / 1h cache write / cache read\n\n",
		tab.AsOf, tab.Source)
	tb := newTable("Model", "Rates", "From", "Rules")
	for _, r := range tab.Rows(time.Now()) {
		tb.add(r.ID, r.Rates, string(r.Origin), strings.Join(r.Rules, "; "))
	}
	tb.render(env.stdout)
	fmt.Fprintf(env.stdout, "\n%s.\nA tier bills the whole request once its prompt (input + cache writes + cache reads) is above the size.\n"+
		"Fast mode, data residency and batch multiply every rate and stack. Dates are UTC days.\n",
		strings.Join(tab.Extras(), "; "))
	return 0
}

// runPricesUpdate fetches PRICING_URL, validates it, and keeps it in the
// data directory when it is newer than the table in force. A failed or
// invalid download changes nothing.
func runPricesUpdate(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("prices update", env.stderr, "ctm prices update [--url URL]",
		"Fetches a newer price table (PRICING_URL; default: the file on the project's main branch),\n"+
			"validates it and keeps it beside the database, where every ctm command finds it. This is\n"+
			"the only command that uses the network for prices.")
	url := fs.String("url", "", "fetch from `URL` instead of PRICING_URL")
	cfg, code := env.loadConfig(fs, args, config.DataFlags)
	if code != 0 {
		return max(code, 0)
	}
	if *url == "" {
		*url = cfg.PricingURL
	}
	dest := cfg.RefreshedPrices()
	cur, err := pricing.Load(pricing.Options{Refreshed: dest})
	if err != nil {
		fmt.Fprintf(env.stderr, "ctm: %v\n", err)
		return 1
	}
	data, err := fetchPrices(ctx, *url)
	if err != nil {
		fmt.Fprintf(env.stderr, "ctm: prices update: %s: %v; nothing changed\n", *url, err)
		return 1
	}
	fresh, err := pricing.Parse(data)
	if err != nil {
		fmt.Fprintf(env.stderr, "ctm: prices update: %s is not a valid price file: %v; nothing changed\n", *url, err)
		return 1
	}
	if fresh.AsOf <= cur.AsOf {
		fmt.Fprintf(env.stdout, "Prices are current: the table in force is as of %s, %s is as of %s.\n", cur.AsOf, *url, fresh.AsOf)
		return 0
	}
	if err := writeAtomic(dest, data); err != nil {
		fmt.Fprintf(env.stderr, "ctm: prices update: %v; nothing changed\n", err)
		return 1
	}
	fmt.Fprintf(env.stdout, "Prices updated: as of %s (was %s), kept in %s.\n"+
		"Every stored record is re-priced on the next report; restart a running `ctm serve` to use them.\n",
		fresh.AsOf, cur.AsOf, dest)
	return 0
}

// fetchPrices downloads url, refusing anything but a 200 of bounded size.
func fetchPrices(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPriceFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPriceFile {
		return nil, errors.New("larger than 4 MiB")
	}
	return data, nil
}

// writeAtomic replaces path with data so that no reader sees half a file.
func writeAtomic(path string, data []byte) error {
	if path == "" {
		return errors.New("no data directory (DATABASE_PATH is empty)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".prices-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
