"""The shared store: bounded buffers, per-tick pandas frames and the metric math."""
