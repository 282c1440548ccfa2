-- v0020: the channels each alert went by, so that one failing channel does not send it again on the others.
ALTER TABLE alert_history ADD COLUMN IF NOT EXISTS sent_on VARCHAR[];
