"""Training corpus and dev evaluation set: speech sources, synthesis, augmentation, manifests."""
