-- Caption relevance (issue 5): training runs, model versions (checkpoints), per-epoch
-- metrics, scores per (caption, model version), human decisions with history, and
-- per-class thresholds with history. Keys are checked in code (see 0001).

CREATE SEQUENCE relevance_run_seq START 1;
-- One training run: a model directory that gets one checkpoint per epoch.
CREATE TABLE relevance_runs (
    run_id          BIGINT PRIMARY KEY DEFAULT nextval('relevance_run_seq'),
    name            VARCHAR NOT NULL,
    encoder         VARCHAR NOT NULL,       -- HF name, local path, or a registered alias
    class_wnids     VARCHAR[] NOT NULL,     -- the class set, in output-row order
    checkpoint_dir  VARCHAR NOT NULL UNIQUE,
    spec_json       VARCHAR NOT NULL,       -- the TrainSpec
    dataset_json    VARCHAR NOT NULL,       -- the dataset report (sizes, skipped counts)
    status          VARCHAR NOT NULL,       -- 'training' | 'finished' | 'stopped' | 'failed'
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    updated_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE SEQUENCE relevance_model_version_seq START 1;
-- A model version is one saved checkpoint (run, epoch). Scores point at it.
CREATE TABLE relevance_model_versions (
    model_version   BIGINT PRIMARY KEY DEFAULT nextval('relevance_model_version_seq'),
    run_id          BIGINT NOT NULL,
    epoch           INTEGER NOT NULL,       -- 1-based
    path            VARCHAR NOT NULL,       -- the epoch's model.safetensors
    sha256          VARCHAR NOT NULL,
    test_loss       DOUBLE,
    test_accuracy   DOUBLE,                 -- top-1 accuracy of the own class, 0..1
    pruned          BOOLEAN NOT NULL DEFAULT false,  -- weights deleted to save disk
    created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (run_id, epoch)
);

-- Per-epoch training metrics (the live charts read this table).
CREATE TABLE relevance_epoch_metrics (
    run_id          BIGINT NOT NULL,
    epoch           INTEGER NOT NULL,
    train_loss      DOUBLE NOT NULL,        -- mean BCE over the epoch's pairs
    test_loss       DOUBLE NOT NULL,        -- mean BCE over test captions (alone)
    test_accuracy   DOUBLE NOT NULL,
    n_train_pairs   BIGINT NOT NULL,        -- pairs seen this epoch (75 % subset)
    seconds         DOUBLE NOT NULL,
    at_time         TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run_id, epoch)
);

-- One row per scoring run (what was scored with which spec, and what was skipped).
CREATE SEQUENCE relevance_scoring_seq START 1;
CREATE TABLE relevance_scoring_runs (
    scoring_id      BIGINT PRIMARY KEY DEFAULT nextval('relevance_scoring_seq'),
    model_version   BIGINT NOT NULL,
    spec_json       VARCHAR NOT NULL,
    report_json     VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The model's output for each caption alone; decisions are derived from it (rules.py).
CREATE TABLE relevance_scores (
    caption_id      BIGINT NOT NULL,
    model_version   BIGINT NOT NULL,
    p_own           DOUBLE NOT NULL,        -- sigmoid output of the caption's own class
    p_mean          DOUBLE NOT NULL,        -- mean sigmoid output over all classes
    n_tokens        INTEGER NOT NULL,       -- tokens fed to the model (after truncation)
    truncated       BOOLEAN NOT NULL,
    scored_at       TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (caption_id, model_version)
);

-- A person's keep/drop on a caption. Independent of model versions, so it wins over every
-- (re)scoring. Absent row = no human decision.
CREATE TABLE relevance_decisions (
    caption_id      BIGINT PRIMARY KEY,
    decision        VARCHAR NOT NULL,       -- 'keep' | 'drop'
    reason          VARCHAR NOT NULL,
    actor           VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL
);

CREATE SEQUENCE relevance_decision_event_seq START 1;
CREATE TABLE relevance_decision_events (
    event_id         BIGINT PRIMARY KEY DEFAULT nextval('relevance_decision_event_seq'),
    caption_id       BIGINT NOT NULL,
    actor            VARCHAR NOT NULL,
    at_time          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    action           VARCHAR NOT NULL,      -- 'set' | 'clear' | 'undo'
    decision_before  VARCHAR,
    reason_before    VARCHAR,
    decision_after   VARCHAR,
    reason_after     VARCHAR,
    reverts_event_id BIGINT
);

-- A class's own threshold on P(own class), replacing the global 0.5 for that class.
CREATE TABLE relevance_class_thresholds (
    wnid            VARCHAR PRIMARY KEY,
    threshold       DOUBLE NOT NULL,
    reason          VARCHAR NOT NULL,
    actor           VARCHAR NOT NULL,
    at_time         TIMESTAMP NOT NULL
);

CREATE SEQUENCE relevance_threshold_event_seq START 1;
CREATE TABLE relevance_threshold_events (
    event_id         BIGINT PRIMARY KEY DEFAULT nextval('relevance_threshold_event_seq'),
    wnid             VARCHAR NOT NULL,
    actor            VARCHAR NOT NULL,
    at_time          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    threshold_before DOUBLE,
    threshold_after  DOUBLE,                -- NULL = back to the global threshold
    reason           VARCHAR NOT NULL
);
