-- The power domain of an alert, stored (issue 19).
--
-- A cap alert of a domain (a feed, hall or row of a site, see 005) names it in the
-- alert's `domain` field; without a column the stored alerts of a site's domains could
-- not be told apart, and a restarted notifier, which rebuilds its reminders from this
-- table, re-sent them without the `domain` label. '' for site-level alerts and for the
-- rows stored before this migration, as the other optional strings of the table.

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS domain LowCardinality(String) DEFAULT '' AFTER rack;
