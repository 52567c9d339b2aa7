-- ferry:description Index users by name
-- ferry:up
CREATE INDEX users_name ON users (name);

-- ferry:down
DROP INDEX users_name;
