"""The position inside an epoch that a resumed run goes on from (training.epoch_progress), without training:
the multi-process cases, which the kill/resume tests in test_checkpoints run with one process only."""

from types import SimpleNamespace

import pytest
import torch

from emodraw.errors import EmodrawError
from emodraw.training.epoch_progress import EpochSaves, Position

SAVED = {"epoch": 3, "step": 7, "loss_sum": 12.5, "seen": 56, "seconds": 30.0, "processes": 2}


def saves(processes=2, main=True, minutes=15.0):
    accelerator = SimpleNamespace(num_processes=processes, is_main_process=main, device=torch.device("cpu"))
    return EpochSaves(minutes, accelerator)


def test_the_main_process_carries_the_loss_so_far_and_the_others_start_from_zero():
    main, other = saves(main=True), saves(main=False)
    for each in (main, other):
        each.resume_inside(SAVED, "RUN")
    assert main.start(3) == Position(**SAVED)
    assert other.start(3) == Position(**{**SAVED, "loss_sum": 0.0, "seen": 0})
    assert main.start(4) == Position(4, processes=2)  # once only: the next epoch starts at its beginning


def test_an_epoch_other_than_the_saved_one_starts_at_its_beginning():
    one = saves()
    one.resume_inside(SAVED, "RUN")
    assert one.start(4) == Position(4, processes=2)


def test_a_state_saved_by_two_processes_does_not_resume_with_one():
    with pytest.raises(
        EmodrawError, match=r"^--resume RUN: saved inside epoch 3 by 2 process\(es\).*--num-processes 2$"
    ):
        saves(processes=1).resume_inside(SAVED, "RUN")


def test_no_save_after_an_epochs_last_step_nor_when_switched_off():
    due_now = saves(processes=1, minutes=1e-9)
    assert due_now.due(5, 10) and not due_now.due(10, 10)
    assert not saves(processes=1, minutes=0).due(5, 10)
    assert not EpochSaves(1e-9, due_now.accelerator, enabled=False).due(5, 10)  # --no-save-state
