-- ferry:description Create the users table
-- ferry:up
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE
);

-- ferry:down
DROP TABLE users;
