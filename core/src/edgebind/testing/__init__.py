"""The Edgebind contract suite (see edgebind.testing.kv, .d1, .vectorize)."""
