"""Micro-batching for the server: the texts of requests that arrive together are run as one batch."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any


class Batcher:
    """Collects the texts of requests that arrive within `window` seconds and runs them as one batch
    on a single worker thread (the model is not re-entrant, and one big batch beats many small).
    A window of 0 runs each request on its own, still on that one thread."""

    def __init__(self, classifier, window_s: float, max_batch: int, model_batch_size: int = 32):
        self.classifier, self.window_s, self.max_batch = classifier, window_s, max_batch
        self.run = partial(classifier.details, batch_size=model_batch_size)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emodraw-model")
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    async def predict(self, texts: list[str]) -> list[dict[str, Any]]:
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
        loop = asyncio.get_running_loop()
        while True:
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
            texts = [t for job_texts, _ in jobs for t in job_texts]
            try:
                rows = await loop.run_in_executor(self.executor, self.run, texts)
            except Exception as exc:  # a model failure answers every waiting request, never hangs them
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for job_texts, future in jobs:
                if not future.done():
                    future.set_result(rows[start : start + len(job_texts)])
                start += len(job_texts)
