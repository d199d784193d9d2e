"""HTTP benchmarks of ``POST /openapi/aiagent/task/list`` (``make bench``; see README.md)."""
