"""Prints the image's Python requirements, one a line: the project's dependencies and its
``production`` extra, from pyproject.toml (the project itself is installed apart, without them).
Used by docker/build.sh on the host and by docker/Dockerfile in the build."""
import sys
import tomllib
from pathlib import Path

path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "pyproject.toml"
project = tomllib.loads(path.read_text())["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["production"]))
