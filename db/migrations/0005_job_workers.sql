-- Job lifecycle (issue 9): the worker process that runs a job and that worker's heartbeat, so
-- any reader (a page, `workbench jobs list`) can tell a job whose process is gone from one
-- that still runs. Only the worker's heartbeat thread writes `job_workers`, so heartbeats never
-- conflict with the progress rows the job writes into `jobs`.

CREATE SEQUENCE job_worker_seq START 1;
CREATE TABLE job_workers (
    worker_id    BIGINT PRIMARY KEY DEFAULT nextval('job_worker_seq'),
    pid          INTEGER NOT NULL,      -- operating-system process id
    host         VARCHAR NOT NULL,
    started_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    heartbeat_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);

ALTER TABLE jobs ADD COLUMN worker_id BIGINT;   -- who claimed it (NULL while queued)
