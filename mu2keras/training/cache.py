"""A bounded cache of workspaces (traced and compiled step functions)."""


class WorkspaceCache:
    """A bounded LRU cache of workspaces (or evaluations), keyed by structure.

    Evicting a workspace drops its variables and traced functions. (TF keeps
    the XLA executable of every traced jit-compiled function until the
    process ends; bounding the number of distinct traces is what keeps
    memory flat, see docs/benchmarks.md.)

    Args:
        max_size: int. Workspaces kept.
    """

    def __init__(self, max_size=8):
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise ValueError(f"max_size must be an int; got {max_size!r}.")
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1; got {max_size}.")
        self.max_size = max_size
        self._entries = {}
        self.hits = 0
        self.misses = 0

    def __len__(self):
        return len(self._entries)

    def get(self, key, factory):
        """Returns (workspace, created)."""
        if key in self._entries:
            self.hits += 1
            self._entries[key] = self._entries.pop(key)  # Most recent last.
            return self._entries[key], False
        self.misses += 1
        while len(self._entries) >= self.max_size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = factory()
        return self._entries[key], True

    def clear(self):
        self._entries.clear()
