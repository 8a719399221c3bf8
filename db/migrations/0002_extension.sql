-- Head synthesis (issue 3): per-class text statistics, added classes, synthesized head rows.
-- Large tensors (head rows) live in safetensors files referenced by path + sha256.

CREATE SEQUENCE text_stat_build_seq START 1;
-- One build of the class x token frequency matrix; `fingerprint` hashes its inputs (captions
-- and active descriptions of the base classes) so a stale build is detected and rebuilt.
CREATE TABLE text_stat_builds (
    build_id      BIGINT PRIMARY KEY DEFAULT nextval('text_stat_build_seq'),
    fingerprint   VARCHAR NOT NULL,
    params_json   VARCHAR NOT NULL,     -- {"max_class_fraction": 0.9, "token_regex": ...}
    n_classes     INTEGER NOT NULL,
    n_tokens      INTEGER NOT NULL,     -- vocabulary size after dropping frequent tokens
    n_examples    BIGINT NOT NULL,
    build_seconds DOUBLE NOT NULL,
    built_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE text_stat_vocab (
    build_id  BIGINT NOT NULL,
    token_id  INTEGER NOT NULL,         -- column of the matrix
    token     VARCHAR NOT NULL,
    n_classes INTEGER NOT NULL,         -- classes whose texts contain the token
    PRIMARY KEY (build_id, token_id)
);

CREATE TABLE text_stat_classes (
    build_id   BIGINT NOT NULL,
    row_id     INTEGER NOT NULL,        -- row of the matrix
    wnid       VARCHAR NOT NULL,
    n_examples INTEGER NOT NULL,        -- caption records + 1 when the class has a description
    PRIMARY KEY (build_id, row_id)
);

-- Sparse values: occurrences of the token in the class's examples / its n_examples.
CREATE TABLE text_stat_values (
    build_id BIGINT NOT NULL,
    row_id   INTEGER NOT NULL,
    token_id INTEGER NOT NULL,
    value    DOUBLE NOT NULL
);

-- A class added from text. 'draft' until a curator keeps it (then it is in `classes` too).
CREATE TABLE added_classes (
    wnid          VARCHAR PRIMARY KEY,  -- 'custom-<slug>' or an ImageNet-21k wnid
    name          VARCHAR NOT NULL,
    description   VARCHAR NOT NULL,
    texts_json    VARCHAR NOT NULL,     -- extra texts, JSON list
    texts_sha256  VARCHAR NOT NULL,
    spec_json     VARCHAR NOT NULL,     -- AddClassSpec
    text_build_id BIGINT NOT NULL,
    text_fingerprint VARCHAR NOT NULL,
    n_tokens      INTEGER NOT NULL,     -- vocabulary tokens found in its texts
    status        VARCHAR NOT NULL,     -- 'draft' | 'kept'
    created_by    VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
    kept_at       TIMESTAMP
);

CREATE SEQUENCE synthesized_head_seq START 1;
-- One synthesized classifier row (+ bias) per (added class, method).
CREATE TABLE synthesized_heads (
    head_id      BIGINT PRIMARY KEY DEFAULT nextval('synthesized_head_seq'),
    wnid         VARCHAR NOT NULL,
    method_label VARCHAR NOT NULL,      -- e.g. 'paper-cosine'
    spec_json    VARCHAR NOT NULL,      -- SynthesisSpec
    model_key    VARCHAR NOT NULL,      -- base weights id (name + sha256 prefix)
    model_json   VARCHAR NOT NULL,      -- ModelSpec
    path         VARCHAR NOT NULL,      -- safetensors file with 'weight' (1, D) and 'bias' (1,)
    sha256       VARCHAR NOT NULL,
    row_norm     DOUBLE NOT NULL,
    bias         DOUBLE NOT NULL,
    is_primary   BOOLEAN NOT NULL,      -- the row exported for this class
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    UNIQUE (wnid, method_label)
);
