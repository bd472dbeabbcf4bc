"""Micro-batching for the server: the texts of requests that arrive together are run as one batch."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from emodraw.serve.shapes import scorer


class Batcher:
    """Scores texts as [(logits, truncated) per text] (emodraw.serve.shapes.scorer).

    Collects the texts of requests that arrive within `window` seconds and runs them as one batch
    on a single worker thread (the model is not re-entrant, and one big batch beats many small).
    A window of 0 runs each request on its own, still on that one thread.

    If the model call for a batch fails, each of its requests is run again alone, so one request that
    breaks the model fails only itself, never the others that happened to share its batch."""

    def __init__(
        self,
        classifier,
        window_s: float,
        max_batch: int,
        model_batch_size: int = 32,
        *,
        long_text: str = "truncate",
        on_batch=None,
    ):
        self.classifier, self.window_s, self.max_batch = classifier, window_s, max_batch
        score = scorer(classifier, model_batch_size, long_text)
        self.on_batch = on_batch  # called with the number of texts of each model call (the metrics)

        def run(texts: list[str]) -> list:
            if self.on_batch is not None:
                self.on_batch(len(texts))
            return score(texts)

        self.run = run
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emodraw-model")
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    async def predict(self, texts: list[str]) -> list:
        loop = asyncio.get_running_loop()
        if self.window_s <= 0:
            return await loop.run_in_executor(self.executor, self.run, texts)
        if self.queue is None:  # created on first use: it belongs to the server's running event loop
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._loop())
        future = loop.create_future()
        await self.queue.put((texts, future))
        return await future

    async def _loop(self):
        while True:
            jobs = await self._collect()
            try:
                rows = await self._score([t for job_texts, _ in jobs for t in job_texts])
            except Exception as exc:
                if len(jobs) == 1:
                    _settle(jobs[0][1], exc=exc)
                    continue
                for job_texts, future in jobs:  # find the guilty request: each alone
                    try:
                        _settle(future, await self._score(job_texts))
                    except Exception as alone:  # answers its own request; the loop never dies
                        _settle(future, exc=alone)
                continue
            start = 0
            for job_texts, future in jobs:
                _settle(future, rows[start : start + len(job_texts)])
                start += len(job_texts)

    async def _collect(self) -> list[tuple[list[str], asyncio.Future]]:
        """The first waiting request and those that arrive within the window, up to `max_batch` texts."""
        loop = asyncio.get_running_loop()
        jobs = [await self.queue.get()]
        size = len(jobs[0][0])
        deadline = loop.time() + self.window_s
        while size < self.max_batch:
            timeout = deadline - loop.time()
            if timeout <= 0:
                break
            try:
                job = await asyncio.wait_for(self.queue.get(), timeout)
            except asyncio.TimeoutError:
                break
            jobs.append(job)
            size += len(job[0])
        return jobs

    async def _score(self, texts: list[str]) -> list:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.run, texts)


def _settle(future: asyncio.Future, rows=None, exc: BaseException | None = None) -> None:
    if future.done():  # its client went away (the request was cancelled)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(rows)
