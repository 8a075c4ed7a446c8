"""What a synthetic scene is drawn from: open water, Sargassum rafts, the confounders and coasts that fool index thresholds, and the look-alikes a fine-tune learns to reject."""
