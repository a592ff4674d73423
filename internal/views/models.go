package views

import (
	"context"
	"slices"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// ModelStats is one model's share of a period.
type ModelStats struct {
	Model       string `json:"model"`
	DisplayName string `json:"display_name"`
	usage.Aggregate
	// UsagePercentage and CostPercentage are shares of the period's
	// total_tokens and cost_usd, 0..100.
	UsagePercentage float64 `json:"usage_percentage"`
	CostPercentage  float64 `json:"cost_percentage"`
	Priced          bool    `json:"priced"`
}

// Models is every model's share of a period, highest cost first.
type Models struct {
	Period         string          `json:"period" enum:"7d,30d,90d,all"`
	StartDate      string          `json:"start_date"`
	EndDate        string          `json:"end_date"`
	Models         []ModelStats    `json:"models"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// Models returns the models of sp, which period names (e.g. "30d").
func (v *Views) Models(ctx context.Context, period string, sp Span) (Models, error) {
	rep, err := v.rollup(ctx, sp.Filter(), usage.ByNothing, byNothing)
	if err != nil {
		return Models{}, err
	}
	tot := rep.Totals.Aggregate
	models := make([]ModelStats, 0, len(rep.Totals.Models))
	for _, m := range rep.Totals.Models {
		models = append(models, ModelStats{
			Model:           m.Model,
			DisplayName:     v.displayName(m.Model),
			Aggregate:       m.Aggregate,
			UsagePercentage: percentage(float64(m.TotalTokens), float64(tot.TotalTokens)),
			CostPercentage:  percentage(m.CostUSD.USD(), tot.CostUSD.USD()),
			Priced:          !slices.Contains(rep.Unpriced, m.Model),
		})
	}
	return Models{
		Period:         period,
		StartDate:      sp.StartDate,
		EndDate:        sp.EndDate,
		Models:         models,
		Totals:         tot,
		UnpricedModels: nonNil(rep.Unpriced),
	}, nil
}

func percentage(part, whole float64) float64 {
	if whole == 0 {
		return 0
	}
	return part / whole * 100
}
