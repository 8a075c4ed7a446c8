"""Detection: a scene through the model tile by tile, to raft polygons, probabilities, a quicklook and a summary."""
