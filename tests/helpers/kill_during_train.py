"""Run `emodraw train ARGS...` and SIGKILL this very process at a chosen point: a real kill, no
cleanup, no exception handlers. Points:
  after-state:N   right after the resumable state of epoch N is saved
  step:K          at the K-th training step (counted over all epochs)
  save:K          inside the K-th atomic save, after its files are written, before it is renamed into place
  sigint:K        send SIGINT (Ctrl-C) at the K-th training step instead, and let the run handle it
  sigterm:K       likewise SIGTERM
"""

import os
import signal
import sys

import emodraw.checkpoints as checkpoint
import emodraw.training.state as state
import emodraw.training.steps as steps
from emodraw.cli import main


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


def counter(limit, act=kill):
    count = {"n": 0}

    def tick():
        count["n"] += 1
        if count["n"] == limit:
            act()

    return tick


point, args = sys.argv[1], sys.argv[2:]
kind, value = point.split(":")
value = int(value)
if kind == "after-state":
    real_save_state = state.save_state

    def save_state(run_dir, **kwargs):
        real_save_state(run_dir, **kwargs)
        if kwargs["progress"]["epoch"] == value:
            kill()

    state.save_state = save_state
elif kind in ("step", "sigint", "sigterm"):
    number = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM}.get(kind)
    tick = counter(value, kill if number is None else lambda: os.kill(os.getpid(), number))
    real_call = steps.EagerStep.__call__

    def call(self, *a, **k):
        tick()
        return real_call(self, *a, **k)

    steps.EagerStep.__call__ = call
elif kind == "save":
    tick, real_manifest = counter(value), checkpoint.write_manifest

    def write_manifest(folder):
        tick()
        real_manifest(folder)

    checkpoint.write_manifest = write_manifest
sys.exit(main(["train", *args]))
