"""``lamina deploy`` infers runtime and handler from the package's root files (pure)."""

from __future__ import annotations

import pytest

from lamina.cli.inference import CannotInfer, infer, newest_runtime

TABLE = [
    {"runtime": "python3.11", "interpreter": "/usr/bin/python3.11", "note": ""},
    {"runtime": "python3.12", "interpreter": "/usr/bin/python3.12", "note": ""},
    {"runtime": "python3.13", "interpreter": "", "note": "no Python 3.13 found"},
    {"runtime": "nodejs20.x", "interpreter": "/usr/bin/node", "note": ""},
    {"runtime": "nodejs22.x", "interpreter": "/usr/bin/node", "note": "runs on Node v20"},
    {"runtime": "provided.al2023", "interpreter": "", "note": ""},
]


def guess(files: dict[str, str], table: list[dict[str, str]] = TABLE) -> tuple[str, str]:
    got = infer(list(files), files.__getitem__, table, source="fn/")
    return got.runtime, got.handler


def test_python_files_give_the_newest_python_the_server_runs_and_the_defined_handler() -> None:
    assert guess({"app.py": "def lambda_handler(event, context):\n    pass\n"}) == (
        "python3.12",
        "app.lambda_handler",
    )
    assert guess({"lambda_function.py": "import x\n\ndef handler(e, c): ..."}) == (
        "python3.12",
        "lambda_function.handler",
    )


@pytest.mark.parametrize(
    "source",
    [
        "export const handler = async (event) => event;",
        "export async function handler(event) { return 1 }",
        "exports.handler = async function (event) {};",
        "const handler = () => 1;\nexport { handler };",
        "module.exports = { handler };",
    ],
)
def test_node_files_give_the_newest_node_on_its_own_interpreter(source: str) -> None:
    assert guess({"index.mjs": source}) == ("nodejs20.x", "index.handler")


def test_a_bootstrap_is_a_custom_runtime_whose_handler_comes_from_its_code() -> None:
    assert guess({"bootstrap": "", "Cargo.toml": ""}) == ("provided.al2023", "bootstrap")
    ric = {"bootstrap": "", "app.py": "def handler(e, c): ..."}
    assert guess(ric) == ("provided.al2023", "app.handler")


def test_without_a_runtime_table_the_defaults_are_used() -> None:
    assert newest_runtime("python", []) == "python3.12"
    assert newest_runtime("node", []) == "nodejs20.x"


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"README.md": ""}, "no lambda_function.py, app.py, index.mjs"),
        ({"app.py": "def main(): ..."}, "--handler app.<function>"),
        ({"app.py": "def handler(e, c): ...\ndef lambda_handler(e, c): ..."}, "defines both"),
        ({"index.js": "console.log(1)"}, "--handler index.<export>"),
        ({"app.py": "def handler(e, c): ...", "index.mjs": ""}, "both app.py and index.mjs"),
    ],
)
def test_when_the_files_do_not_say_the_error_names_what_to_pass(
    files: dict[str, str], says: str
) -> None:
    with pytest.raises(CannotInfer) as info:
        guess(files)
    assert says in str(info.value)
    assert "--runtime" in str(info.value) or "--handler" in str(info.value)
