"""How to name the `roost` command in a hint so that it works as printed."""

import os
import shlex
import shutil
import sys
from pathlib import Path

# Set by scripts/roost and scripts/start to the wrapper as the person typed it (`./scripts/roost`),
# which works without activating the virtual environment.
COMMAND_VARIABLE = "ROOST_COMMAND"


def roost_command() -> str:
    """The wrapper script that ran us, else `roost` when that name on PATH is this very program,
    else this program's full path (a `.venv/bin/roost` that is not activated)."""
    named = os.environ.get(COMMAND_VARIABLE, "").strip()
    if named:
        return named
    program = Path(sys.argv[0]).resolve()
    if program.name != "roost":  # python -m roost.cli
        return f"{shlex.quote(sys.executable)} -m roost.cli"
    on_path = shutil.which("roost")
    if on_path is not None and Path(on_path).resolve() == program:
        return "roost"
    return shlex.quote(str(program))
