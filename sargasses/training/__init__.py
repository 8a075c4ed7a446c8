"""Training with Lightning: datasets, the data module, the LightningModule, losses, and model export."""
