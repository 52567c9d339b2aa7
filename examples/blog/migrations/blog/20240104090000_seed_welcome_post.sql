-- ferry:description Seed the welcome post (irreversible: there is no down section)
-- ferry:up
INSERT INTO users (id, email, name) VALUES (1, 'editor@example.com', 'Editor');
INSERT INTO posts (id, author_id, title, body) VALUES (1, 1, 'Welcome', 'First post; say hello.');
