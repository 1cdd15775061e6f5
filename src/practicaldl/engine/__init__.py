"""The training engine: optimizers, the training steps and the loop (history, callbacks, early stopping)."""
