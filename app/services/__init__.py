"""Business rules, permissions and transactions, one module per domain."""
