-- ferry:description Create the posts table
-- ferry:up
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '' -- a comment; with a semicolon
);
CREATE INDEX posts_author ON posts (author_id);

-- ferry:down
DROP INDEX posts_author;
DROP TABLE posts;
