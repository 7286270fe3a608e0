"""How weights and side modules change: hooks, deltas (apply and revert exactly), codebook adaptors."""
