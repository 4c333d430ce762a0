-- PostgreSQL: runs as the plugin's own role, in its schema plugin_notes.
CREATE TABLE notes (
    id uuid PRIMARY KEY,
    ref text NOT NULL UNIQUE,
    body text NOT NULL CHECK (body <> 'forbidden'),
    stars integer NOT NULL,
    author text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX notes_by_author ON notes (author, created_at);
