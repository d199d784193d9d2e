"""The sandbox's controls, without HTTP: the request journal (and, as they come, the clock,
faults, the callback sink, resets and snapshots). ``nxlink.server.admin`` serves them under
``/_nxlink/``."""
