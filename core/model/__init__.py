"""A loaded model: architecture specs, loading, memory estimates, fingerprints, saving, generation, tokens."""
