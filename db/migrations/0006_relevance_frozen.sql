-- Relevance in frozen mode (issue 11): the mode and caption source of a run, the class the
-- model suggests and whether a score is out of sample, thresholds kept per model version,
-- bulk decisions that undo as one event, and a small key/value settings table (image root).

ALTER TABLE relevance_runs ADD COLUMN mode VARCHAR DEFAULT 'finetune';  -- 'frozen' | 'finetune'
ALTER TABLE relevance_runs ADD COLUMN source VARCHAR;  -- caption source trained on; NULL = all

-- The class the model ranks first for the caption (argmax over classes) and its P, and
-- whether the caption was scored by a model that did not train on it (a cross-fitting fold
-- that held it out, a test-split caption, or a caption outside the training set). NULL in
-- scores written before this migration.
ALTER TABLE relevance_scores ADD COLUMN suggested_wnid VARCHAR;
ALTER TABLE relevance_scores ADD COLUMN p_suggested DOUBLE;
ALTER TABLE relevance_scores ADD COLUMN out_of_sample BOOLEAN;

-- Thresholds on P(own class) per model version: wnid '' is the version's global threshold,
-- any other wnid that class's own. The per-class thresholds of 0003 applied to every model
-- version; they are copied to each existing version.
CREATE TABLE relevance_version_thresholds (
    model_version   BIGINT NOT NULL,
    wnid            VARCHAR NOT NULL,       -- '' = global threshold of the version
    threshold       DOUBLE NOT NULL,
    reason          VARCHAR NOT NULL,
    actor           VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL,
    PRIMARY KEY (model_version, wnid)
);
INSERT INTO relevance_version_thresholds
    SELECT v.model_version, t.wnid, t.threshold, t.reason, t.actor, t.at_time
    FROM relevance_class_thresholds t CROSS JOIN relevance_model_versions v;
DROP TABLE relevance_class_thresholds;
ALTER TABLE relevance_threshold_events ADD COLUMN model_version BIGINT;  -- NULL: before 0006

-- A bulk keep/drop of every caption a filter matched: one row here, one history row per
-- caption in relevance_decision_events (bulk_id set). Undoing it restores every caption's
-- previous decision in one transaction and is itself a bulk event (action 'undo').
CREATE SEQUENCE relevance_bulk_seq START 1;
CREATE TABLE relevance_bulk_events (
    bulk_id          BIGINT PRIMARY KEY DEFAULT nextval('relevance_bulk_seq'),
    actor            VARCHAR NOT NULL,
    at_time          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    action           VARCHAR NOT NULL,      -- 'bulk' | 'undo'
    decision         VARCHAR,               -- 'keep' | 'drop' | NULL = back to the model
    reason           VARCHAR NOT NULL,
    filter_json      VARCHAR NOT NULL,      -- the filter that selected the captions
    n_captions       BIGINT NOT NULL,
    reverts_bulk_id  BIGINT
);
ALTER TABLE relevance_decision_events ADD COLUMN bulk_id BIGINT;

-- Small workbench settings (e.g. 'image_root', the folder thumbnails are read from).
CREATE TABLE settings (
    key         VARCHAR PRIMARY KEY,
    value       VARCHAR NOT NULL,
    updated_by  VARCHAR NOT NULL,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
