-- Evaluation dashboards (issue 4): registered image sets and their embedding state, runs of
-- the paper's protocol and of the few-shot baseline with their spec JSON, per class/method
-- metrics with bootstrap intervals, and the per-image scores that ROC/PR curves are drawn
-- from. Keys are checked in code (see 0001). Embedding vectors live in safetensors shards
-- under .cache/embeddings/<model_key>/, keyed by the sha256 of each image file.

CREATE SEQUENCE image_set_seq START 1;
CREATE TABLE image_sets (
    set_id      BIGINT PRIMARY KEY DEFAULT nextval('image_set_seq'),
    name        VARCHAR NOT NULL UNIQUE,
    kind        VARCHAR NOT NULL,      -- 'folder' (wnid/*.jpg) | 'list' (path + wnid file) | 'upload'
    root        VARCHAR NOT NULL,      -- the folder or list file it was registered from
    n_items     BIGINT NOT NULL,
    n_classes   BIGINT NOT NULL,
    created_by  VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE image_set_items (
    set_id      BIGINT NOT NULL,
    item_idx    BIGINT NOT NULL,       -- 0..n_items-1, sorted by (wnid, path)
    path        VARCHAR NOT NULL,      -- absolute path of the image file
    wnid        VARCHAR NOT NULL,      -- label: a wnid or a custom class id
    sha256      VARCHAR NOT NULL,      -- of the file's bytes: the embedding cache key
    size_bytes  BIGINT NOT NULL,
    PRIMARY KEY (set_id, item_idx)
);

-- Embedding state of a set under one model (one row per set and model key).
CREATE TABLE image_set_embeddings (
    set_id      BIGINT NOT NULL,
    model_key   VARCHAR NOT NULL,      -- extension.models.compute_model_key
    status      VARCHAR NOT NULL,      -- 'partial' | 'complete'
    n_embedded  BIGINT NOT NULL,
    n_failed    BIGINT NOT NULL,
    updated_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (set_id, model_key)
);

-- Images that could not be read or decoded: reported, skipped, never fatal.
CREATE TABLE image_item_errors (
    set_id      BIGINT NOT NULL,
    item_idx    BIGINT NOT NULL,
    error       VARCHAR NOT NULL,
    at_time     TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (set_id, item_idx)
);

CREATE SEQUENCE eval_run_seq START 1;
CREATE TABLE eval_runs (
    run_id      BIGINT PRIMARY KEY DEFAULT nextval('eval_run_seq'),
    kind        VARCHAR NOT NULL,      -- 'protocol' | 'fewshot'
    name        VARCHAR NOT NULL,
    image_set_id BIGINT NOT NULL,
    model_key   VARCHAR NOT NULL,
    spec_json   VARCHAR NOT NULL,      -- EvalSpec / FewShotSpec
    summary_json VARCHAR NOT NULL,     -- rules, references, sizes, timings
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- What each class was evaluated on.
CREATE TABLE eval_classes (
    run_id      BIGINT NOT NULL,
    wnid        VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    row_source  VARCHAR NOT NULL,      -- 'leave-one-out' (base class) | 'added' (a new class)
    n_pos       BIGINT NOT NULL,
    n_neg       BIGINT NOT NULL,
    PRIMARY KEY (run_id, wnid)
);

-- Long format: metric is 'auroc', 'ap', or '<precision|recall|f1>@<decision rule>'.
CREATE TABLE eval_metrics (
    run_id      BIGINT NOT NULL,
    wnid        VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,      -- 'trained' or a SynthesisSpec label
    metric      VARCHAR NOT NULL,
    value       DOUBLE NOT NULL,
    ci_low      DOUBLE NOT NULL,
    ci_high     DOUBLE NOT NULL,
    PRIMARY KEY (run_id, wnid, method, metric)
);

-- Per-image scores (ROC/PR curves are drawn from these).
CREATE TABLE eval_scores (
    run_id      BIGINT NOT NULL,
    wnid        VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,
    set_id      BIGINT NOT NULL,
    item_idx    BIGINT NOT NULL,
    label       BOOLEAN NOT NULL,      -- true = an image of the class
    score       DOUBLE NOT NULL,       -- the row's logit
    positive_rules VARCHAR[] NOT NULL  -- decision rules that called it positive
);

-- Few-shot baseline: one row per class, initialization, k, repeat and metric.
CREATE TABLE fewshot_results (
    run_id      BIGINT NOT NULL,
    wnid        VARCHAR NOT NULL,
    init        VARCHAR NOT NULL,      -- 'zeros' or a SynthesisSpec label
    k           INTEGER NOT NULL,      -- shots per class; 0 = the synthesized row untrained
    repeat_idx  INTEGER NOT NULL,
    metric      VARCHAR NOT NULL,      -- 'auroc' | 'ap' | 'precision' | 'recall' | 'f1' | 'loss_start' | 'loss_end'
    value       DOUBLE NOT NULL,
    PRIMARY KEY (run_id, wnid, init, k, repeat_idx, metric)
);
