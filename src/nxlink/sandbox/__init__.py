"""The sandbox's controls, without HTTP: the request journal, faults on demand for API
requests (and, as they come, the clock, the callback sink, resets and snapshots).
``nxlink.server.admin`` serves them under ``/_nxlink/``."""
