-- ferry:description Refresh planner statistics outside a transaction
-- ferry:up no-transaction
ANALYZE;

-- ferry:down
