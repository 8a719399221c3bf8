-- Two kinds of suspicion per score (issue 19) and a curator's relabel to the suggested class
-- (issue 17, Deliver 6).

-- From the out-of-sample probabilities over every class (curation/relevance/issues.py, with
-- cleanlab): higher = more suspect, in [0, 1], comparable across classes. suggested_share is
-- the suggested class's share of the row-normalized probability (how sure the model is);
-- label_issue is cleanlab's find_label_issues flag (NULL where it could not run: probabilities
-- not out of sample, or classes with fewer captions than folds). NULL in older scores.
ALTER TABLE relevance_scores ADD COLUMN suspect_wrong_class DOUBLE;
ALTER TABLE relevance_scores ADD COLUMN suspect_no_content DOUBLE;
ALTER TABLE relevance_scores ADD COLUMN suggested_share DOUBLE;
ALTER TABLE relevance_scores ADD COLUMN label_issue BOOLEAN;

-- A caption a curator moved to another class (usually the model's suggested class). The
-- caption's own wnid (captions.wnid) stays as imported: it is the original label; this row is
-- the curated one. Absent row = not relabelled.
CREATE TABLE relevance_relabels (
    caption_id      BIGINT PRIMARY KEY,
    wnid            VARCHAR NOT NULL,       -- the curated class
    reason          VARCHAR NOT NULL,
    actor           VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL
);

-- Every relabel and its undo. A batch (several captions accepted at once) shares batch_id and
-- undoes as one.
CREATE SEQUENCE relevance_relabel_event_seq START 1;
CREATE SEQUENCE relevance_relabel_batch_seq START 1;
CREATE TABLE relevance_relabel_events (
    event_id         BIGINT PRIMARY KEY DEFAULT nextval('relevance_relabel_event_seq'),
    caption_id       BIGINT NOT NULL,
    actor            VARCHAR NOT NULL,
    at_time          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    action           VARCHAR NOT NULL,      -- 'set' | 'undo'
    wnid_before      VARCHAR,               -- NULL = the original label
    wnid_after       VARCHAR,               -- NULL = back to the original label
    reason           VARCHAR NOT NULL,
    batch_id         BIGINT,
    reverts_event_id BIGINT
);
