"""The pool of kept tasks a worker runs its invokes in (lamina.cluster.runners)."""

from __future__ import annotations

import asyncio
import contextvars
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


def test_a_jobs_first_step_runs_inside_start_as_its_runner() -> None:
    async def scenario() -> None:
        steps: list[tuple[str, int, asyncio.Task[object] | None]] = []
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def run(job: int) -> None:
            steps.append(("first", job, asyncio.current_task()))
            await answer
            steps.append(("rest", job, asyncio.current_task()))

        runners: Runners[int] = Runners(run)
        runners.start(7)
        # Before start() returned, with no turn of the loop: the step up to the first wait.
        assert [(s, j) for s, j, _ in steps] == [("first", 7)]
        first_task = steps[0][2]
        assert first_task is not None and first_task in runners._tasks.values()
        assert asyncio.current_task() is not first_task  # the caller's task is back
        answer.set_result(1)
        for _ in range(3):
            await asyncio.sleep(0)
        assert [(s, j) for s, j, _ in steps] == [("first", 7), ("rest", 7)]
        assert steps[1][2] is first_task  # the same runner drove the rest
        assert (runners.tasks, runners.idle) == (1, 1)
        runners.close()

    asyncio.run(scenario())


def test_a_job_done_in_one_step_leaves_its_runner_idle() -> None:
    async def scenario() -> None:
        done: list[int] = []

        async def run(job: int) -> None:
            done.append(job)

        runners: Runners[int] = Runners(run)
        for job in range(4):
            runners.start(job)
        assert done == [0, 1, 2, 3]  # each ran to its end inside start()
        assert runners.started == 1  # one runner, made for the first, kept idle
        await asyncio.sleep(0)
        assert (runners.tasks, runners.idle) == (1, 1)
        runners.close()

    asyncio.run(scenario())


def test_the_runner_and_its_context_are_the_jobs_in_both_steps() -> None:
    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")

    async def scenario() -> None:
        values: list[str] = []
        gate = asyncio.Event()

        async def run(job: int) -> None:
            token = seen.set(f"job {job}")
            await gate.wait()
            values.append(seen.get())
            seen.reset(token)
            async with asyncio.timeout(5):  # needs a current task: the runner
                await asyncio.sleep(0)

        runners: Runners[int] = Runners(run)
        runners.start(1)
        assert seen.get() == "unset"  # the first step's set stayed in the runner's context
        gate.set()
        for _ in range(4):
            await asyncio.sleep(0)
        assert values == ["job 1"]  # ... where the rest found it
        assert runners.idle == 1
        runners.close()

    asyncio.run(scenario())


def test_a_job_cancelled_while_it_waits_sees_the_cancellation_where_it_waits() -> None:
    async def scenario() -> None:
        events: list[str] = []
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def run(job: int) -> None:
            try:
                await never
            except asyncio.CancelledError:
                events.append("cancelled at its wait")
                raise
            finally:
                events.append("cleaned up")

        runners: Runners[int] = Runners(run)
        runners.start(1)
        await asyncio.sleep(0)  # the runner took over the rest
        runners.close()
        for _ in range(3):
            await asyncio.sleep(0)
        assert events == ["cancelled at its wait", "cleaned up"]
        assert runners.tasks == 0

    asyncio.run(scenario())


def test_a_job_whose_runner_is_cancelled_before_taking_it_up_is_closed() -> None:
    async def scenario() -> None:
        events: list[str] = []
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def run(job: int) -> None:
            try:
                await never
            finally:
                events.append("cleaned up")

        runners: Runners[int] = Runners(run)
        runners.start(1)
        runners.close()  # before the loop turned: the runner never resumed the job
        for _ in range(3):
            await asyncio.sleep(0)
        assert events == ["cleaned up"]
        assert runners.tasks == 0

    asyncio.run(scenario())
