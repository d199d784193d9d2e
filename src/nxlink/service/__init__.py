"""The rules of the service: validation, queries, derivations. Knows nothing of HTTP."""
