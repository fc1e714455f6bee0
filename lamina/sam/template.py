"""A template file read into its sections, with the checks that need no resolving."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.sam.errors import TemplateError
from lamina.sam.yamltags import read_template

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
DEFAULT_NAMES = ("template.yaml", "template.yml", "template.json")
_SECTIONS = {
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Globals",
    "Resources",
    "Outputs",
}


@dataclass(frozen=True)
class Template:
    path: Path
    description: str = ""
    transforms: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    globals: dict[str, Any] | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    unknown_sections: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        """Relative CodeUri / ContentUri paths are relative to the template's directory."""
        return self.path.parent


def find_template(arg: str | None, cwd: Path) -> Path:
    """The template named on the command line, or ``template.yaml``/``.yml``/``.json`` here."""
    if arg:
        path = Path(arg)
        path = path if path.is_absolute() else cwd / path
        if path.is_dir():
            for name in DEFAULT_NAMES:
                if (path / name).is_file():
                    return path / name
            raise TemplateError(f"no template.yaml in {path}")
        if not path.is_file():
            raise TemplateError(f"template {path} does not exist")
        return path
    for name in DEFAULT_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    raise TemplateError(f"no template.yaml, template.yml or template.json in {cwd}")


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"the {key} section must be a mapping")
    return value


def load_template(path: Path) -> Template:
    """Read ``path`` and split it into sections; a template needs a Resources mapping."""
    data = read_template(path)
    resources = _mapping(data, "Resources")
    if not resources:
        raise TemplateError(f"{path}: the template has no Resources")
    transform = data.get("Transform") or []
    transforms = tuple(str(t) for t in (transform if isinstance(transform, list) else [transform]))
    return Template(
        path=path.resolve(),
        description=str(data.get("Description") or "").strip(),
        transforms=transforms,
        parameters=_mapping(data, "Parameters"),
        mappings=_mapping(data, "Mappings"),
        conditions=_mapping(data, "Conditions"),
        globals=data.get("Globals"),
        resources=resources,
        outputs=_mapping(data, "Outputs"),
        unknown_sections=tuple(sorted(str(k) for k in data if k not in _SECTIONS)),
    )
