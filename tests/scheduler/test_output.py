"""A runtime's output pipe: the after-invoke check reads only what was written."""

from __future__ import annotations

import asyncio
import os

from lamina.scheduler.output import OutputPipe


def test_drain_written_moves_complete_lines_and_skips_an_empty_pipe() -> None:
    lines: list[str] = []

    async def scenario() -> None:
        pipe = OutputPipe(lambda message, _ms: lines.append(message))
        read_fd, write_fd = os.pipe()
        pipe.attach(read_fd)
        try:
            pipe.drain_written()  # nothing written: nothing read, still attached
            assert lines == []
            os.write(write_fd, b"one\ntwo\npar")
            pipe.drain_written()
            assert lines == ["one", "two"]
            os.write(write_fd, b"tial\n")
            pipe.drain_written()
            assert lines == ["one", "two", "partial"]
            # End of file: drain_written leaves it to the loop's reader, which detaches.
            os.close(write_fd)
            pipe.drain_written()
            for _ in range(20):
                await asyncio.sleep(0.01)
                if pipe._fd < 0:
                    break
            assert pipe._fd < 0
        finally:
            pipe.detach()

    asyncio.run(scenario())
