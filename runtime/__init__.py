"""audiofront.runtime (being built)."""

__all__: list[str] = []
