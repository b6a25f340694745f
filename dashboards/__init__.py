"""Panel views only: pages, tiles, charts, the event inspector and the wall display."""
