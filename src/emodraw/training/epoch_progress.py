"""Where training stands inside an epoch: the progress bar, and the resumable state saved inside long epochs.

The state is saved at the end of every epoch (callbacks.save_training_state). An epoch of the large backbone
on a 2-core CPU takes about an hour, and a crash or a Ctrl-C would lose all of it, so `--save-every-minutes`
also saves it inside an epoch, between two steps: the weights, optimiser, schedule and RNGs as at any save,
plus the position (`Position`). A resumed run skips the batches already done -- the order depends only on
(seed, epoch) -- and goes on from the next one with the same random state, so it ends with the weights an
uninterrupted run ends with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch

from emodraw.errors import EmodrawError
from emodraw.training.callbacks import write_training_state

# With several processes each has its own clock; they agree on a save every this many steps (one tiny
# all-reduce), so that all of them stop at the same step.
AGREE_EVERY = 20


@dataclass(frozen=True)
class Position:
    """An epoch's progress: `step` batches done, their summed training loss over `seen` sentences (all
    processes together), `seconds` of training spent on it so far, by `processes` processes."""

    epoch: int
    step: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    seconds: float = 0.0
    processes: int = 1


class EpochSaves:
    """`start(epoch)` gives the position an epoch starts from; `due(step)` says when to `save` inside it."""

    def __init__(self, minutes: float, accelerator, enabled: bool = True):
        self.enabled = enabled
        self.every_s = minutes * 60 if enabled and minutes > 0 else math.inf
        self.accelerator = accelerator
        self.resumed: Position | None = None
        self.stop_requested: str | None = None  # the signal's name, once one asked the run to stop
        self.last = time.perf_counter()

    @contextlib.contextmanager
    def stop_on_signals(self, log):
        """While training (one process, main thread): Ctrl-C or SIGTERM (a scheduler's notice) lets the step
        finish, saves the state and then raises KeyboardInterrupt, so that nothing is lost; a second one
        stops at once. With several processes a signal stops them as before (the timed saves remain)."""
        alone = self.accelerator.num_processes == 1 and threading.current_thread() is threading.main_thread()
        if not (self.enabled and alone):
            yield
            return

        def request(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = name = signal.Signals(signum).name
            log(f"{name}: stopping once the resumable state is saved ({name} again to stop at once)")

        previous = {number: signal.signal(number, request) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if self.stop_requested:  # it came during the last epoch's validation or saves: all of them are done
            raise KeyboardInterrupt

    def resume_inside(self, saved: dict[str, Any], run_dir) -> Position:
        """--resume of a state saved inside an epoch (progress["within_epoch"])."""
        position = Position(**saved)
        world = self.accelerator.num_processes
        if position.processes != world:
            raise EmodrawError(
                f"--resume {run_dir}: saved inside epoch {position.epoch} by {position.processes} process(es), "
                f"whose batches differ from {world}'s; resume it with --num-processes {position.processes}"
            )
        self.resumed = position
        return position

    def start(self, epoch: int) -> Position:
        """Where `epoch` starts: where a resumed run stopped inside it, else its first batch. The main process
        carries the loss summed so far; the others start from 0, and the epoch's all-reduce adds them up."""
        if self.stop_requested:  # it came while the epoch before was validated and saved
            raise KeyboardInterrupt
        self.last = time.perf_counter()  # the state was just saved at the end of the epoch before
        position, self.resumed = self.resumed, None
        if position is None or position.epoch != epoch:
            return Position(epoch, processes=self.accelerator.num_processes)
        if not self.accelerator.is_main_process:
            position = dataclasses.replace(position, loss_sum=0.0, seen=0)
        return position

    def due(self, step: int, steps: int) -> bool:
        """Whether to save after `step` of the epoch's `steps`: never after its last (the epoch's own save
        follows), else when a signal asked to stop or the time since the last save has come."""
        if step == steps:
            return False
        if self.stop_requested:
            return True
        if self.every_s == math.inf:
            return False
        late = time.perf_counter() - self.last >= self.every_s
        if self.accelerator.num_processes == 1:
            return late
        if step % AGREE_EVERY:
            return False
        flag = torch.tensor([float(late)], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, "sum").item() > 0)

    def save(self, trainer, position: Position, loss_sum: torch.Tensor, seen: int) -> None:
        """Save the state after `position.step` batches of `position.epoch` (`loss_sum`, `seen`: this
        process's share); every process calls it, the main one writes."""
        totals = summed_over_processes(self.accelerator, loss_sum, seen)
        position = dataclasses.replace(position, loss_sum=float(totals[0]), seen=int(totals[1]))
        if trainer.main:
            write_training_state(trainer, {"epoch": position.epoch - 1, "within_epoch": dataclasses.asdict(position)})
            trainer.log(
                f"saved the resumable state inside epoch {position.epoch}, after step {position.step} of "
                f"{trainer.steps_per_epoch} (--resume {trainer.run_dir} goes on from there)"
            )
        self.accelerator.wait_for_everyone()
        self.last = time.perf_counter()
        if self.stop_requested:
            raise KeyboardInterrupt


def summed_over_processes(accelerator, loss_sum: torch.Tensor, seen: int) -> torch.Tensor:
    """[summed loss, sentences] over all processes, from each one's share (one all-reduce)."""
    return accelerator.reduce(
        torch.stack([loss_sum.detach(), torch.tensor(float(seen), device=loss_sum.device)]), "sum"
    )


def epoch_bar(epoch: int, epochs: int, steps: int, done: int, enabled: bool):
    """The epoch's tqdm bar on stderr, `done` of its `steps` batches already behind it."""
    from tqdm import tqdm

    return tqdm(
        total=steps,
        initial=done,
        desc=f"epoch {epoch}/{epochs}",
        unit="batch",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
    )
