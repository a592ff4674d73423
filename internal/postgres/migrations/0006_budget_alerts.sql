-- Budget notifications that a target acknowledged (2xx), keyed by budget,
-- period start, threshold and target, so that a restart re-sends what was
-- not delivered and never what was.
CREATE TABLE budget_alerts (
	budget_id    text        NOT NULL,
	period_start timestamptz NOT NULL,
	threshold    integer     NOT NULL,
	target       text        NOT NULL,
	sent_at      timestamptz NOT NULL,
	PRIMARY KEY (budget_id, period_start, threshold, target)
);

CREATE INDEX budget_alerts_period ON budget_alerts (period_start);
