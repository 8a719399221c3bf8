-- People and roles (issue 21). In team mode (an OpenID Connect provider configured) every
-- write names a signed-in person by `user_key` = issuer + '#' + subject, the provider's
-- stable key; e-mail and name are only for display and change with the provider's profile.
-- An invitation made before the person's first sign-in is a row keyed 'invite:' + e-mail,
-- replaced by the real key at that sign-in. Local single-user mode writes no rows here.
CREATE TABLE users (
    user_key VARCHAR PRIMARY KEY,          -- 'https://issuer#subject', or 'invite:<e-mail>'
    issuer VARCHAR,
    subject VARCHAR,
    email VARCHAR,
    name VARCHAR,
    role VARCHAR NOT NULL CHECK (role IN ('viewer', 'curator', 'admin')),
    created_at TIMESTAMP DEFAULT current_timestamp,
    last_seen_at TIMESTAMP,
    role_set_by VARCHAR,                   -- who gave the current role ('config', a user_key)
    role_set_at TIMESTAMP DEFAULT current_timestamp
);

-- Who queued a job (the Jobs page shows it; cancelling another person's job needs admin).
ALTER TABLE jobs ADD COLUMN created_by VARCHAR;
