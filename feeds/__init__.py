"""Where events come from: the supervised Realtime connection, probes, recording and replay."""
