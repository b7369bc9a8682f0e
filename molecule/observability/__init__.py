"""What an operator running the platform for months looks at: the Prometheus metrics
(`metrics`, `live`) and the log records with the request, workspace and operation each one
belongs to (`logs`). Every layer may use this package; it uses only the shared modules."""
