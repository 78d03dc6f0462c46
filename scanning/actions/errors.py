from __future__ import annotations

__all__ = ["ActionConfigError", "check_keys"]


class ActionConfigError(ValueError):
    """A bad action configuration; `key` names the offending key for the UI."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def check_keys(config: dict[str, object], allowed: set[str]) -> None:
    for key in config:
        if key not in allowed:
            raise ActionConfigError(
                key,
                "unknown setting"
                + (
                    f"; allowed: {', '.join(sorted(allowed))}"
                    if allowed
                    else " (this action has none)"
                ),
            )


def check_bool(config: dict[str, object], key: str) -> bool:
    value = config.get(key, False)
    if not isinstance(value, bool):
        raise ActionConfigError(key, "must be true or false")
    return value
