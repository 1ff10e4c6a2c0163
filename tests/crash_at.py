"""Run the `qa` command and SIGKILL it when the store reaches a named write step (its `qa.store.step` audit
event), for the crash tests: python tests/crash_at.py STEP [qa arguments ...]"""

import os
import signal
import sys

from qa.store.writer import STEP


def main() -> int:
    step, args = sys.argv[1], sys.argv[2:]

    def kill_at_step(event: str, payload: tuple) -> None:
        if event == STEP and payload[0] == step:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(kill_at_step)
    from qa.serving.cli import main as qa

    return qa(args)


if __name__ == "__main__":
    sys.exit(main())
