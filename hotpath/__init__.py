"""The compiled hot path: the L2 order book and streaming indicators (Cython)."""
