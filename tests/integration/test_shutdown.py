"""SHUTDOWN of an environment without extensions, as Lambda does it: the runtime gets
SIGTERM and a grace (500 ms) to clean up before the environment is killed."""

from __future__ import annotations

import time

import pytest

from tests.integration.harness import LaminaProcess, log_text, python_zip, wait_for_text, zip_files

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# Traps SIGTERM, says so in its log and exits, as a function cleaning up would.
GRACEFUL = """
import os, signal, sys

def on_term(signum, frame):
    print("[app] SIGTERM received in pid %d, cleaning up" % os.getpid(), flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)

def handler(event, context):
    return {"pid": os.getpid()}
"""


# An external extension that waits for SHUTDOWN and says so.
EXTENSION = """#!/usr/bin/env python3
import json, os, sys, time, urllib.request
base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
register = urllib.request.Request(
    base + "/register", data=json.dumps({"events": ["SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": "waiter"}, method="POST")
with urllib.request.urlopen(register) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
with urllib.request.urlopen(nxt) as r:
    event = json.load(r)
    got_ms = time.time() * 1000
print("[waiter] %s" % event["eventType"], flush=True)
print("[waiter] deadline %d received %.3f" % (event["deadlineMs"], got_ms), flush=True)
"""


def test_a_retired_environment_sends_its_runtime_sigterm_first(lamina: LaminaProcess) -> None:
    name = "graceful"
    lamina.create(name, python_zip(GRACEFUL))
    first = lamina.invoke(name, {})
    assert first.function_error is None, first.payload
    pid = first.json()["pid"]
    wait_for_text(lambda: log_text(lamina, name), f"REPORT RequestId: {first.report()['id']}")
    assert "SIGTERM received" not in log_text(lamina, name)
    # A configuration change retires the (frozen, idle) environment: it is thawed, its
    # runtime gets SIGTERM, and what its handler writes reaches the log stream.
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "SIGTERM received")
    assert f"[app] SIGTERM received in pid {pid}, cleaning up" in text
    # The function goes on with a new environment.
    again = lamina.invoke(name, {})
    assert again.function_error is None, again.payload
    assert "Init Duration" in again.log


def test_with_an_extension_the_runtime_gets_sigterm_once_it_is_done(
    lamina: LaminaProcess,
) -> None:
    name = "graceful-ext"
    layer = lamina.lambda_client().publish_layer_version(
        LayerName=f"{name}-extensions",
        Content={
            "ZipFile": zip_files(
                {"extensions/waiter": EXTENSION}, executable=("extensions/waiter",)
            )
        },
    )
    lamina.create(name, python_zip(GRACEFUL), Layers=[layer["LayerVersionArn"]])
    first = lamina.invoke(name, {})
    assert first.function_error is None, first.payload
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "SIGTERM received")
    # The extension had SHUTDOWN (and finished) before the runtime was signalled: the
    # runtime's exit ends the environment, extensions included.
    assert "[waiter] SHUTDOWN" in text
    assert text.index("[waiter] SHUTDOWN") < text.index("SIGTERM received")


def test_with_an_extension_shutdown_lasts_2000_ms(lamina: LaminaProcess) -> None:
    # Lambda's SHUTDOWN phase lasts 2,000 ms when an extension registered (500 ms without,
    # the runtime's SIGTERM grace). SHUTDOWN's deadlineMs is when the phase began plus that
    # grace: after the change that began it (+2,000 ms), and at most 2,000 ms after the
    # extension received it. Both bounds hold however slow the machine is.
    name = "graceful-deadline"
    layer = lamina.lambda_client().publish_layer_version(
        LayerName=f"{name}-extensions",
        Content={
            "ZipFile": zip_files(
                {"extensions/waiter": EXTENSION}, executable=("extensions/waiter",)
            )
        },
    )
    lamina.create(name, python_zip(GRACEFUL), Layers=[layer["LayerVersionArn"]])
    first = lamina.invoke(name, {})
    assert first.function_error is None, first.payload
    before_ms = time.time() * 1000
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "[waiter] deadline ")
    deadline_s, _, received_s = text.split("[waiter] deadline ")[1].split()[:3]
    deadline_ms, received_ms = int(deadline_s), float(received_s)
    # deadlineMs is whole milliseconds (rounded down): allow that one.
    assert before_ms + 2000 - 1 <= deadline_ms <= received_ms + 2000


# At SHUTDOWN, flushes until 300 ms before its deadline (past the moment the runtime gets
# SIGTERM, 500 ms before it), then says so and exits.
FLUSHER = """#!/usr/bin/env python3
import json, os, time, urllib.request
base = "http://%s/2020-01-01/extension" % os.environ["AWS_LAMBDA_RUNTIME_API"]
register = urllib.request.Request(
    base + "/register", data=json.dumps({"events": ["SHUTDOWN"]}).encode(),
    headers={"Lambda-Extension-Name": "flusher"}, method="POST")
with urllib.request.urlopen(register) as r:
    ident = r.headers["Lambda-Extension-Identifier"]
nxt = urllib.request.Request(base + "/event/next", headers={"Lambda-Extension-Identifier": ident})
with urllib.request.urlopen(nxt) as r:
    deadline_s = json.load(r)["deadlineMs"] / 1000
time.sleep(max(0.0, deadline_s - 0.3 - time.time()))
print("[flusher] flushed before the deadline", flush=True)
"""


def test_an_extension_flushing_at_shutdown_keeps_its_grace_after_the_runtime_exits(
    lamina: LaminaProcess,
) -> None:
    # The runtime gets SIGTERM 500 ms before the deadline at the latest and exits at once;
    # the environment stays until the extension is done (at most the deadline), as on
    # Lambda, where the extensions' SHUTDOWN lasts to deadlineMs.
    name = "graceful-flusher"
    layer = lamina.lambda_client().publish_layer_version(
        LayerName=f"{name}-extensions",
        Content={
            "ZipFile": zip_files(
                {"extensions/flusher": FLUSHER}, executable=("extensions/flusher",)
            )
        },
    )
    lamina.create(name, python_zip(GRACEFUL), Layers=[layer["LayerVersionArn"]])
    first = lamina.invoke(name, {})
    assert first.function_error is None, first.payload
    lamina.lambda_client().update_function_configuration(FunctionName=name, Description="v2")
    text = wait_for_text(lambda: log_text(lamina, name), "[flusher] flushed before the deadline")
    assert text.index("SIGTERM received") < text.index("[flusher] flushed")
