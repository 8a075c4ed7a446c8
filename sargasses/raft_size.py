"""The smallest raft counted, in pixels: shared by detection (rafts under it are dropped without --min-area) and
evaluation (the object scores count rafts from this size), so that both say the same thing by "a raft"."""

MIN_RAFT_PIXELS = 3
