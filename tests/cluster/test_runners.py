"""The pool of kept tasks a worker runs its invokes in (lamina.cluster.runners)."""

from __future__ import annotations

import asyncio
import gc

from lamina.cluster.runners import Runners


def test_invokes_one_after_another_reuse_one_task() -> None:
    async def scenario() -> None:
        ran: list[tuple[int, asyncio.Task[object] | None]] = []

        async def run(job: int) -> None:
            ran.append((job, asyncio.current_task()))

        runners: Runners[int] = Runners(run)
        for job in range(5):
            runners.start(job)
            await asyncio.sleep(0)  # the job runs, its runner waits again
            await asyncio.sleep(0)
        assert [job for job, _ in ran] == [0, 1, 2, 3, 4]
        assert len({id(task) for _, task in ran}) == 1  # every job ran in one task
        assert all(task is not None for _, task in ran)  # ... a real one: timeouts work
        assert runners.started == 1
        assert (runners.tasks, runners.idle) == (1, 1)
        runners.close()
        await asyncio.sleep(0)
        assert runners.tasks == 0

    asyncio.run(scenario())


def test_invokes_at_once_each_get_a_runner_and_all_are_kept_for_later() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        running: set[int] = set()

        async def run(job: int) -> None:
            running.add(job)
            await gate.wait()
            running.discard(job)

        runners: Runners[int] = Runners(run)
        for job in range(3):
            runners.start(job)
        await asyncio.sleep(0)
        assert running == {0, 1, 2}  # none waits for another
        assert (runners.started, runners.idle) == (3, 0)
        gate.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert (runners.tasks, runners.idle) == (3, 3)
        for job in range(3, 6):
            runners.start(job)
        await asyncio.sleep(0)
        assert runners.started == 3  # the idle ones took them
        runners.close()

    asyncio.run(scenario())


def test_idle_runners_are_bounded() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def run(job: int) -> None:
            await gate.wait()

        runners: Runners[int] = Runners(run, idle_max=2)
        for job in range(5):
            runners.start(job)
        await asyncio.sleep(0)
        gate.set()
        for _ in range(3):
            await asyncio.sleep(0)
        assert (runners.tasks, runners.idle) == (2, 2)  # the burst's others ended
        runners.close()

    asyncio.run(scenario())


def test_a_job_that_fails_ends_only_its_runner() -> None:
    async def scenario() -> None:
        done: list[int] = []

        async def run(job: int) -> None:
            if job == 0:
                raise RuntimeError("a bug")
            done.append(job)

        runners: Runners[int] = Runners(run)
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context.get("exception")))
        runners.start(0)
        await asyncio.sleep(0)
        assert runners.tasks == 0  # its runner ended with it ...
        gc.collect()
        assert [type(e) for e in errors] == [RuntimeError]  # ... and asyncio reported it
        runners.start(1)
        await asyncio.sleep(0)
        assert done == [1]  # a new runner took the next job
        runners.close()

    asyncio.run(scenario())


def test_a_cancelled_idle_runner_is_passed_over() -> None:
    async def scenario() -> None:
        done: list[int] = []

        async def run(job: int) -> None:
            done.append(job)

        runners: Runners[int] = Runners(run)
        runners.start(0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert runners.idle == 1
        for task in list(runners._tasks.values()):
            task.cancel()  # as a loop shutting down cancels every task
        await asyncio.sleep(0)
        assert (runners.tasks, runners.idle) == (0, 0)
        runners.start(1)  # its cancelled future is skipped: a new runner runs it
        await asyncio.sleep(0)
        assert done == [0, 1]
        assert runners.started == 2
        runners.close()

    asyncio.run(scenario())
