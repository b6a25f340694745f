"""Where events come from: the supervised Realtime connection, probes, recording and replay, and
the config sections they read (`settings`). feeds imports nothing above it."""
