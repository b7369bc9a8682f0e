"""`molecule connect`: a poll-mode bridge from an external workspace to a local backend."""
