package storetest

import (
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Prices is the price table the stores under test are opened with: the
// embedded one, so that the suite prices records as the product does.
var Prices usage.Pricer = mustLoad()

func mustLoad() *pricing.Table {
	t, err := pricing.Load(pricing.Options{})
	if err != nil {
		panic("storetest: embedded prices: " + err.Error())
	}
	return t
}

// price is what a store must record as r's cost.
func price(r usage.Record) usage.Money {
	c, _ := Prices.Price(&r)
	return c
}
