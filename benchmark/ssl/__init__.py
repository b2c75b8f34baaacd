"""Self-supervised pre-training: encoders, batched augmentation, losses, SimCLR."""
