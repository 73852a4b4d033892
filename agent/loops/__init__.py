"""The daemon's loops: each is a plain object with a ``cycle()`` method over ports."""
