"""docker/compose.yml as data: its variables filled in the way Compose fills them (``${X}``,
``${X:-default}``, ``${X:?message}``), for the deployment file tests and the container tier."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yml"
ENV_EXAMPLE = ROOT / "docker" / "env.example"

VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def interpolate(text: str, env: dict) -> str:
    def replace(match):
        name, kind, rest = match.groups()
        if name in env and env[name] != "":
            return env[name]
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return VARIABLE.sub(replace, text).replace("$$", "$")


def load(env: dict) -> dict:
    """The compose file with ``env`` as its .env file."""
    return yaml.safe_load(interpolate(COMPOSE.read_text(), env))


def example_env() -> dict:
    """docker/env.example with every empty value filled."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            env[name] = value or f"filled-{name.lower()}"
    return env


def seconds(duration: str | int | None, default: float = 10) -> float:
    """A Compose duration (``10m``, ``40s``, ``1m30s``) in seconds."""
    if duration is None:
        return default
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a compose duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)
