-- Factsmith workspace schema version 1, frozen as released: the migration tests build
-- an old workspace from this file, never from the code's current migrations.
CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
CREATE TABLE base_models (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE, architecture TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE facts (
        id TEXT PRIMARY KEY, body TEXT NOT NULL, subject TEXT NOT NULL, prompt TEXT NOT NULL,
        target_new TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'approved', 'rejected', 'needs-rework')),
        created_at TEXT NOT NULL, created_by TEXT NOT NULL);
CREATE INDEX facts_subject_prompt ON facts (subject, prompt);
CREATE TABLE status_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, fact_id TEXT NOT NULL REFERENCES facts (id),
        author TEXT NOT NULL, at TEXT NOT NULL, from_status TEXT,
        to_status TEXT NOT NULL CHECK (to_status IN ('pending', 'approved', 'rejected', 'needs-rework')),
        note TEXT NOT NULL DEFAULT '', undoes INTEGER REFERENCES status_history (id));
CREATE INDEX status_history_fact ON status_history (fact_id);
CREATE TABLE deltas (
        sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,
        storage TEXT NOT NULL CHECK (storage IN ('inline', 'file')), data BLOB,
        CHECK ((storage = 'inline') = (data IS NOT NULL)));
CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, base_id INTEGER NOT NULL REFERENCES base_models (id),
        method TEXT NOT NULL, hparams TEXT NOT NULL, overrides TEXT NOT NULL, seed INTEGER,
        environment TEXT NOT NULL, metrics TEXT NOT NULL, previews TEXT NOT NULL, seconds REAL NOT NULL,
        delta_sha256 TEXT NOT NULL REFERENCES deltas (sha256), computed_on TEXT NOT NULL,
        author TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE run_facts (
        run_id INTEGER NOT NULL REFERENCES runs (id), position INTEGER NOT NULL,
        fact_id TEXT NOT NULL REFERENCES facts (id), PRIMARY KEY (run_id, position));
CREATE INDEX run_facts_fact ON run_facts (fact_id);
CREATE TABLE commits (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,
        parent_id TEXT UNIQUE REFERENCES commits (id),
        base_id INTEGER NOT NULL REFERENCES base_models (id),
        kind TEXT NOT NULL CHECK (kind IN ('root', 'commit', 'revert')),
        author TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL,
        state_fingerprint TEXT NOT NULL, n_applied INTEGER NOT NULL, n_dropped INTEGER NOT NULL);
CREATE TABLE commit_runs (
        commit_id TEXT NOT NULL REFERENCES commits (id), position INTEGER NOT NULL,
        run_id INTEGER NOT NULL REFERENCES runs (id), op TEXT NOT NULL CHECK (op IN ('apply', 'drop')),
        PRIMARY KEY (commit_id, position));
CREATE INDEX commit_runs_run ON commit_runs (run_id);
CREATE TABLE tags (
        name TEXT PRIMARY KEY, commit_id TEXT NOT NULL REFERENCES commits (id),
        author TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TRIGGER status_history_sets_status AFTER INSERT ON status_history
       BEGIN UPDATE facts SET status = NEW.to_status WHERE id = NEW.fact_id; END;
CREATE TRIGGER facts_body_fixed BEFORE UPDATE ON facts
       WHEN NEW.id IS NOT OLD.id OR NEW.body IS NOT OLD.body OR NEW.created_at IS NOT OLD.created_at
         OR NEW.status IS NOT (SELECT to_status FROM status_history WHERE fact_id = OLD.id
                               ORDER BY id DESC LIMIT 1)
       BEGIN SELECT RAISE(ABORT, 'facts are fixed: only a status_history row changes a status'); END;
CREATE TRIGGER facts_no_delete BEFORE DELETE ON facts
       BEGIN SELECT RAISE(ABORT, 'facts cannot be deleted: reject them instead'); END;
CREATE TRIGGER base_models_no_update BEFORE UPDATE ON base_models BEGIN SELECT RAISE(ABORT, 'base_models are append-only: rows cannot be changed'); END;
CREATE TRIGGER base_models_no_delete BEFORE DELETE ON base_models BEGIN SELECT RAISE(ABORT, 'base_models are append-only: rows cannot be deleted'); END;
CREATE TRIGGER status_history_no_update BEFORE UPDATE ON status_history BEGIN SELECT RAISE(ABORT, 'status_history are append-only: rows cannot be changed'); END;
CREATE TRIGGER status_history_no_delete BEFORE DELETE ON status_history BEGIN SELECT RAISE(ABORT, 'status_history are append-only: rows cannot be deleted'); END;
CREATE TRIGGER deltas_no_update BEFORE UPDATE ON deltas BEGIN SELECT RAISE(ABORT, 'deltas are append-only: rows cannot be changed'); END;
CREATE TRIGGER deltas_no_delete BEFORE DELETE ON deltas BEGIN SELECT RAISE(ABORT, 'deltas are append-only: rows cannot be deleted'); END;
CREATE TRIGGER runs_no_update BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'runs are append-only: rows cannot be changed'); END;
CREATE TRIGGER runs_no_delete BEFORE DELETE ON runs BEGIN SELECT RAISE(ABORT, 'runs are append-only: rows cannot be deleted'); END;
CREATE TRIGGER run_facts_no_update BEFORE UPDATE ON run_facts BEGIN SELECT RAISE(ABORT, 'run_facts are append-only: rows cannot be changed'); END;
CREATE TRIGGER run_facts_no_delete BEFORE DELETE ON run_facts BEGIN SELECT RAISE(ABORT, 'run_facts are append-only: rows cannot be deleted'); END;
CREATE TRIGGER commits_no_update BEFORE UPDATE ON commits BEGIN SELECT RAISE(ABORT, 'commits are append-only: rows cannot be changed'); END;
CREATE TRIGGER commits_no_delete BEFORE DELETE ON commits BEGIN SELECT RAISE(ABORT, 'commits are append-only: rows cannot be deleted'); END;
CREATE TRIGGER commit_runs_no_update BEFORE UPDATE ON commit_runs BEGIN SELECT RAISE(ABORT, 'commit_runs are append-only: rows cannot be changed'); END;
CREATE TRIGGER commit_runs_no_delete BEFORE DELETE ON commit_runs BEGIN SELECT RAISE(ABORT, 'commit_runs are append-only: rows cannot be deleted'); END;
CREATE TRIGGER tags_no_update BEFORE UPDATE ON tags BEGIN SELECT RAISE(ABORT, 'tags are append-only: rows cannot be changed'); END;
CREATE TRIGGER tags_no_delete BEFORE DELETE ON tags BEGIN SELECT RAISE(ABORT, 'tags are append-only: rows cannot be deleted'); END;
INSERT INTO schema_migrations VALUES (1, 'facts, review history, runs, deltas, commits, tags', '2025-01-01T00:00:00+00:00');
