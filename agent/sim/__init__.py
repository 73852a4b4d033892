"""The simulated cluster, metrics and on-call behind ``autonomic simulate`` and many tests."""
