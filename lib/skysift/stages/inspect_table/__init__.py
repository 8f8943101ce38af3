"""`skysift inspect-table`: print a table's schema with column docs, its row count, grid and producer, and its rejects."""
