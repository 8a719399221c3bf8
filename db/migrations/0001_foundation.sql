-- Foundation: class catalog, text sources, class descriptions with full history, captions, jobs.
-- Foreign keys are checked in code, not declared: DuckDB rewrites updated rows in a way that
-- trips declared foreign keys on parent tables that are updated.

CREATE TABLE classes (
    wnid        VARCHAR PRIMARY KEY,   -- WordNet id (n01440764) or 'custom-<slug>' for free-form classes
    class_index INTEGER UNIQUE,        -- row of the base 1k classifier head; NULL for added classes
    name        VARCHAR NOT NULL,      -- display name (first lemma)
    lemmas      VARCHAR NOT NULL,      -- all lemmas, ', '-separated
    origin      VARCHAR NOT NULL,      -- 'imagenet-1k' | 'imagenet-21k' | 'custom'
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- Every text that enters the store comes from a registered source with its license.
CREATE TABLE sources (
    source      VARCHAR PRIMARY KEY,   -- short key, e.g. 'wordnet', 'imagenet-x'
    kind        VARCHAR NOT NULL,      -- 'description' (per class) | 'caption' (per image)
    title       VARCHAR NOT NULL,
    license     VARCHAR NOT NULL,
    attribution VARCHAR NOT NULL,
    url         VARCHAR
);

-- Candidate descriptions: at most one text per (class, source).
CREATE TABLE descriptions (
    wnid        VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    text        VARCHAR NOT NULL,
    imported_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (wnid, source)
);

-- The description a curator chose (or wrote) for a class. The text is copied, so a later
-- re-import of a source never changes what was chosen behind the curator's back.
CREATE TABLE active_descriptions (
    wnid       VARCHAR PRIMARY KEY,
    source     VARCHAR NOT NULL,        -- the source it came from, or 'manual'
    text       VARCHAR NOT NULL,
    revision   INTEGER NOT NULL,        -- +1 on every change
    updated_by VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE SEQUENCE description_event_seq START 1;
-- Append-only history of every change to an active description.
CREATE TABLE description_events (
    event_id         BIGINT PRIMARY KEY DEFAULT nextval('description_event_seq'),
    wnid             VARCHAR NOT NULL,
    actor            VARCHAR NOT NULL,
    at_time          TIMESTAMP NOT NULL DEFAULT current_timestamp,
    action           VARCHAR NOT NULL,  -- 'pick' | 'edit' | 'revert' | 'bulk' | 'clear'
    source_before    VARCHAR,
    text_before      VARCHAR,
    source_after     VARCHAR,
    text_after       VARCHAR,
    revision_after   INTEGER,
    based_on_revision INTEGER,          -- the revision the editor saw; differs when edits raced
    reverts_event_id BIGINT
);

CREATE SEQUENCE caption_seq START 1;
-- Per-image text (ImageNet-Captions records, ImageNet-X annotations, ...).
CREATE TABLE captions (
    caption_id  BIGINT PRIMARY KEY DEFAULT nextval('caption_seq'),
    source      VARCHAR NOT NULL,       -- sources.source, kind 'caption'
    filename    VARCHAR NOT NULL,       -- image file name as in the source, e.g. n03146219_14833.JPEG
    wnid        VARCHAR NOT NULL,
    title       VARCHAR NOT NULL DEFAULT '',
    description VARCHAR NOT NULL DEFAULT '',
    tags        VARCHAR[] NOT NULL DEFAULT [],
    -- lower(title, description, tags joined by newlines), written by db/captions.py for fast
    -- case-insensitive substring search; NULL for rows written elsewhere (search computes it).
    -- Stored uncompressed: a substring scan then runs about twice as fast.
    search_text VARCHAR USING COMPRESSION uncompressed,
    UNIQUE (source, filename)
);

-- One row per import run, with the validation report, so bad records are never silently lost.
CREATE SEQUENCE ingest_seq START 1;
CREATE TABLE ingest_runs (
    ingest_id   BIGINT PRIMARY KEY DEFAULT nextval('ingest_seq'),
    source      VARCHAR NOT NULL,
    path        VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    started_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    n_records   BIGINT NOT NULL,
    n_inserted  BIGINT NOT NULL,
    n_updated   BIGINT NOT NULL,
    n_unchanged BIGINT NOT NULL,
    n_invalid   BIGINT NOT NULL,
    n_unknown_wnid BIGINT NOT NULL,
    report_json VARCHAR NOT NULL        -- {"invalid": {...counts, examples}, "unknown_wnids": {...}}
);

CREATE SEQUENCE job_seq START 1;
-- Background jobs: written by the single worker thread, polled by pages.
CREATE TABLE jobs (
    job_id       BIGINT PRIMARY KEY DEFAULT nextval('job_seq'),
    kind         VARCHAR NOT NULL,
    spec_json    VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,      -- 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
    progress     DOUBLE NOT NULL DEFAULT 0,   -- 0..1
    message      VARCHAR NOT NULL DEFAULT '',
    error        VARCHAR,
    result_json  VARCHAR,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP
);

CREATE TABLE job_logs (
    job_id BIGINT NOT NULL,
    at_time TIMESTAMP NOT NULL DEFAULT current_timestamp,
    line   VARCHAR NOT NULL
);
