-- Budget notifications that a target acknowledged (2xx), keyed by budget,
-- period start, threshold and target, so that a restart re-sends what was
-- not delivered and never what was. Times are unix milliseconds (UTC).
CREATE TABLE budget_alerts (
	budget_id    TEXT    NOT NULL,
	period_start INTEGER NOT NULL,
	threshold    INTEGER NOT NULL,
	target       TEXT    NOT NULL,
	sent_at      INTEGER NOT NULL,
	PRIMARY KEY (budget_id, period_start, threshold, target)
) STRICT, WITHOUT ROWID;

CREATE INDEX budget_alerts_period ON budget_alerts (period_start);
