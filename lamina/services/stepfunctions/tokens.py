"""Task tokens: what ``.waitForTaskToken`` tasks and activities hand to workers."""

from __future__ import annotations

import secrets


def task_token(nbytes: int = 96) -> str:
    """A new unguessable task token.

    URL-safe base64 may begin with ``-``, and the AWS CLI then reads
    ``--task-token -abc…`` as an option and refuses the command. AWS's own tokens
    begin with ``AQ``; so do these, which keeps every token a plain CLI argument.
    """
    return "AQ" + secrets.token_urlsafe(nbytes)
