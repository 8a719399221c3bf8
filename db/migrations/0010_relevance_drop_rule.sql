-- The drop rule of a model version (issue 19): 'paper' (drop when P(own class) is below the
-- mean P over classes or below the threshold) or 'suspect' (drop when the larger of the two
-- suspect scores, wrong class and no class content, is at or above the threshold). Each change
-- is a row here; a version's rule is its newest row, 'paper' when it has none.
CREATE SEQUENCE relevance_rule_event_seq START 1;
CREATE TABLE relevance_rule_events (
    event_id        BIGINT PRIMARY KEY DEFAULT nextval('relevance_rule_event_seq'),
    model_version   BIGINT NOT NULL,
    rule            VARCHAR NOT NULL,       -- 'paper' | 'suspect'
    reason          VARCHAR NOT NULL,
    actor           VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The suspect rule's thresholds, kept apart from the paper rule's (a threshold on P(own) and
-- one on a suspect score mean different things), so switching rules loses neither.
CREATE TABLE relevance_suspect_thresholds (
    model_version   BIGINT NOT NULL,
    wnid            VARCHAR NOT NULL,       -- '' = global threshold of the version
    threshold       DOUBLE NOT NULL,
    reason          VARCHAR NOT NULL,
    actor           VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL,
    PRIMARY KEY (model_version, wnid)
);
ALTER TABLE relevance_threshold_events ADD COLUMN rule VARCHAR;  -- NULL: the paper's rule
