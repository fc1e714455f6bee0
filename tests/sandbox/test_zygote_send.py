"""A fork request waits while the zygote's socket is full instead of failing.

A burst of cold starts (hundreds at once) sends fork requests faster than a zygote forks:
once its control socket's buffer is full, ``sendmsg`` on the non-blocking socket says
EAGAIN. That used to be taken for a dead zygote (it was retired, and the rest of the burst
started cold); :func:`lamina.sandbox.zygote.send_request` waits for room instead. Real sockets,
no sandbox needed.
"""

from __future__ import annotations

import array
import asyncio
import os
import socket

from lamina.sandbox.zygote import send_request


def test_a_request_to_a_full_socket_waits_for_room_and_keeps_its_descriptors() -> None:
    async def scenario() -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        filler = b"x" * 512
        sent = 0
        try:
            while True:
                ours.send(filler)
                sent += 1
        except BlockingIOError:
            pass  # full: the zygote is behind
        r, w = os.pipe()
        try:
            fds = array.array("i", [w])
            task = asyncio.ensure_future(send_request(ours, b"the request", fds))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not task.done()  # still waiting for room, not failed
            theirs.setblocking(False)
            for _ in range(sent):  # the zygote catches up
                assert theirs.recv(1024) == filler
            await asyncio.wait_for(task, 10)
            msg, got, _flags, _addr = socket.recv_fds(theirs, 1024, 4)
            assert msg == b"the request" and len(got) == 1
            os.write(got[0], b"!")  # the descriptor that arrived is the pipe's write end
            assert os.read(r, 1) == b"!"
            os.close(got[0])
        finally:
            os.close(r)
            os.close(w)
            ours.close()
            theirs.close()

    asyncio.run(scenario())
