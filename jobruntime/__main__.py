"""Entry point of the ``jobruntime`` command and of ``python -m jobruntime``.

Loading the command line allocates a few hundred thousand long-lived objects
(SQLAlchemy, the models), and the garbage collector would walk them again and
again while they load: about 60 ms of a 0.5 s ``runjob --local``. So collection
is paused here, and a command that goes on to run jobs resumes it once loaded
(``jobruntime.cli.common.loaded``); short commands end before it matters.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    from jobruntime.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
