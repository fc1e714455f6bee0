"""Roles, their inline and attached policies, and customer managed policies: values in memory,
written through to SQLite (``iam.db``).

The authoriser reads roles on every call made with function credentials, so reads are dict
lookups; writes (CreateRole, PutRolePolicy, ...) are rare and committed before they answer.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

from lamina.services.iam.policy import Policy, parse_policy
from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS roles (
    name TEXT PRIMARY KEY,
    role_id TEXT NOT NULL,
    path TEXT NOT NULL,
    trust_policy TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    max_session_s INTEGER NOT NULL DEFAULT 3600,
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS role_policies (
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (role, name)
);
CREATE TABLE IF NOT EXISTS attached (
    role TEXT NOT NULL,
    policy_arn TEXT NOT NULL,
    PRIMARY KEY (role, policy_arn)
);
CREATE TABLE IF NOT EXISTS policies (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    path TEXT NOT NULL,
    document TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    role_id: str
    path: str
    trust_policy: str
    description: str
    max_session_s: int
    created: float
    tags: dict[str, str] = field(default_factory=dict)
    inline: dict[str, Policy] = field(default_factory=dict)  # policy name -> policy
    attached: tuple[str, ...] = ()  # managed policy ARNs, in attach order


@dataclass(frozen=True, slots=True)
class CustomerPolicy:
    arn: str
    name: str
    policy_id: str
    path: str
    policy: Policy
    description: str
    created: float


class IamStore:
    """Roles and customer managed policies, read from memory, written through to disk."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self._writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="iam-db")
        self.roles: dict[str, Role] = {}
        self.policies: dict[str, CustomerPolicy] = {}
        self._load()

    def _load(self) -> None:
        def read(c: sqlite3.Connection) -> tuple[list[tuple[object, ...]], ...]:
            return (
                c.execute("SELECT * FROM roles").fetchall(),
                c.execute("SELECT role, name, document FROM role_policies").fetchall(),
                c.execute("SELECT role, policy_arn FROM attached ORDER BY rowid").fetchall(),
                c.execute("SELECT * FROM policies").fetchall(),
            )

        roles, inline, attached, policies = self._writer.call(read)
        for name, role_id, path, trust, description, max_s, created, tags in roles:
            self.roles[str(name)] = Role(
                str(name),
                str(role_id),
                str(path),
                str(trust),
                str(description),
                int(str(max_s)),
                float(str(created)),
                json.loads(str(tags)),
            )
        for role, name, document in inline:
            current = self.roles.get(str(role))
            if current is not None:
                policy = parse_policy(str(document))
                self.roles[current.name] = replace(
                    current, inline={**current.inline, str(name): policy}
                )
        for role, arn in attached:
            current = self.roles.get(str(role))
            if current is not None:
                self.roles[current.name] = replace(current, attached=(*current.attached, str(arn)))
        for arn, name, policy_id, path, document, description, created in policies:
            self.policies[str(arn)] = CustomerPolicy(
                str(arn),
                str(name),
                str(policy_id),
                str(path),
                parse_policy(str(document)),
                str(description),
                float(str(created)),
            )

    def close(self) -> None:
        self._writer.close()

    def put_role(self, role: Role) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO roles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    role.name,
                    role.role_id,
                    role.path,
                    role.trust_policy,
                    role.description,
                    role.max_session_s,
                    role.created,
                    json.dumps(role.tags),
                ),
            )

        self._writer.call(op)
        self.roles[role.name] = role

    def delete_role(self, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM roles WHERE name = ?", (name,))
            c.execute("DELETE FROM role_policies WHERE role = ?", (name,))
            c.execute("DELETE FROM attached WHERE role = ?", (name,))

        self._writer.call(op)
        self.roles.pop(name, None)

    def put_inline(self, role: str, name: str, policy: Policy) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO role_policies VALUES (?, ?, ?)",
                (role, name, policy.document),
            )

        self._writer.call(op)
        current = self.roles[role]
        self.roles[role] = replace(current, inline={**current.inline, name: policy})

    def delete_inline(self, role: str, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM role_policies WHERE role = ? AND name = ?", (role, name))

        self._writer.call(op)
        current = self.roles[role]
        self.roles[role] = replace(
            current, inline={k: v for k, v in current.inline.items() if k != name}
        )

    def attach(self, role: str, arn: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR IGNORE INTO attached VALUES (?, ?)", (role, arn))

        self._writer.call(op)
        current = self.roles[role]
        if arn not in current.attached:
            self.roles[role] = replace(current, attached=(*current.attached, arn))

    def detach(self, role: str, arn: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM attached WHERE role = ? AND policy_arn = ?", (role, arn))

        self._writer.call(op)
        current = self.roles[role]
        self.roles[role] = replace(current, attached=tuple(a for a in current.attached if a != arn))

    def put_policy(self, policy: CustomerPolicy) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO policies VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    policy.arn,
                    policy.name,
                    policy.policy_id,
                    policy.path,
                    policy.policy.document,
                    policy.description,
                    policy.created,
                ),
            )

        self._writer.call(op)
        self.policies[policy.arn] = policy

    def delete_policy(self, arn: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM policies WHERE arn = ?", (arn,))

        self._writer.call(op)
        self.policies.pop(arn, None)
