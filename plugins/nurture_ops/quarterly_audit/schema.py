"""Runbook 6 "Disaster Recovery": "Verify all tables present", "Run schema validation queries".

`expected_schema` reads what include/sql/schema/*.sql creates (tables, columns, NOT NULLs,
indexes, constraints); `schema_readiness` compares it with the database's catalog.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from nurture_ops.core import db
from nurture_ops.core.sql import sql_root

_IDENT = r'(?:"[^"]+"|[A-Za-z_][\w$]*)'


_QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"


_CREATE_TABLE = re.compile(
    rf"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})\s*\(",
    re.IGNORECASE,
)


_CREATE_VIEW = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY)\s+)?(?P<mat>MATERIALIZED\s+)?VIEW\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})",
    re.IGNORECASE,
)


_CREATE_INDEX = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_IDENT})\s+ON\s+(?:ONLY\s+)?(?P<table>{_QUALIFIED})",
    re.IGNORECASE,
)


_DROP_INDEX = re.compile(
    rf"^DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?P<name>{_IDENT})\s*$",
    re.IGNORECASE,
)


_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{_QUALIFIED})\s+(?P<actions>.*)$",
    re.IGNORECASE | re.DOTALL,
)


_CONSTRAINT_NAME = re.compile(rf"^CONSTRAINT\s+(?P<name>{_IDENT})\s+(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)


_PAREN_LIST = re.compile(r"\((?P<cols>[^()]*)\)")


_REFERENCES = re.compile(rf"\bREFERENCES\s+(?P<table>{_QUALIFIED})", re.IGNORECASE)


def _ident(text: str) -> str:
    text = text.strip()
    return text[1:-1] if text.startswith('"') else text.lower()


def _split_name(qualified: str) -> tuple[str | None, str]:
    parts = re.findall(_IDENT, qualified)
    if len(parts) == 2:
        return _ident(parts[0]), _ident(parts[1])
    return None, _ident(parts[0])


def _statements(text: str) -> list[str]:
    """Statements of a SQL script, comments dropped and string literals blanked to ''."""
    out: list[str] = []
    statements: list[str] = []
    depth, i, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            j = i + 1
            while j < n and not (text[j] == "'" and text[j + 1 : j + 2] != "'"):
                j += 2 if text[j] == "'" else 1
            out.append("''")
            i = j + 1
        elif ch == "$" and (tag := re.match(r"\$[A-Za-z_]*\$", text[i:])):
            end = text.find(tag.group(), i + len(tag.group()))
            out.append("''")
            i = n if end < 0 else end + len(tag.group())
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            out.append(" ")
            i = n if end < 0 else end + 2
        elif ch == ";" and depth == 0:
            statements.append("".join(out))
            out = []
            i += 1
        else:
            depth += {"(": 1, ")": -1}.get(ch, 0)
            out.append(ch)
            i += 1
    statements.append("".join(out))
    return [" ".join(s.split()) for s in statements if s.strip()]


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return [item for item in items if item]


def _matching_paren(text: str, open_index: int) -> int:
    depth = 0
    for i in range(open_index, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in: {text[:120]}")


def _columns_in(text: str) -> list[str]:
    match = _PAREN_LIST.search(text)
    return [_ident(c) for c in match["cols"].split(",")] if match else []


def _parse_item(item: str, schema: str | None, table: str, tables: dict, constraints: list) -> None:
    """One element of CREATE TABLE (...) or an ALTER TABLE ADD action."""
    base = {"schema": schema, "table": table, "name": None, "references": None}
    named = _CONSTRAINT_NAME.match(item)
    if named:
        base["name"], item = _ident(named["name"]), named["rest"]
    for prefix, kind in ((r"PRIMARY\s+KEY", "p"), ("UNIQUE", "u"), (r"FOREIGN\s+KEY", "f"), ("CHECK", "c")):
        if re.match(rf"{prefix}\b", item, re.IGNORECASE):  # \b: a column named unique_opens is a column
            constraint = {**base, "type": kind, "columns": [] if kind == "c" else _columns_in(item)}
            if kind == "f":
                ref = _REFERENCES.search(item)
                constraint["references"] = _split_name(ref["table"])[1] if ref else None
            constraints.append(constraint)
            return
    if re.match(r"(LIKE|EXCLUDE)\b", item, re.IGNORECASE) or named:
        return
    column, _, rest = item.partition(" ")
    column = _ident(column)
    entry = tables[(schema, table)]
    entry["columns"].append(column)
    rest_upper = rest.upper()
    if re.search(r"\bNOT\s+NULL\b", rest_upper):
        entry["not_null"].append(column)
    if re.search(r"\bPRIMARY\s+KEY\b", rest_upper):
        constraints.append({**base, "type": "p", "columns": [column]})
    if re.search(r"\bUNIQUE\b", rest_upper):
        constraints.append({**base, "type": "u", "columns": [column]})
    if re.search(r"\bCHECK\s*\(", rest_upper):
        constraints.append({**base, "type": "c", "columns": [column]})
    ref = _REFERENCES.search(rest)
    if ref:
        constraints.append(
            {**base, "type": "f", "columns": [column], "references": _split_name(ref["table"])[1]}
        )


def expected_schema(paths: list[Path] | None = None) -> dict[str, Any]:
    """Tables (with columns and NOT NULLs), views, indexes and constraints the schema files create.

    Reads include/sql/schema/*.sql (nurture_ops.sql.sql_root()) in name order: CREATE TABLE,
    CREATE [MATERIALIZED] VIEW, CREATE INDEX (less those a later DROP INDEX retires) and ALTER
    TABLE ... ADD [COLUMN | CONSTRAINT].
    Unnamed constraints are matched by meaning (type, columns, referenced table), since their
    names are generated by PostgreSQL; named ones by name.
    """
    if paths is None:
        paths = sorted((sql_root() / "schema").glob("*.sql"))
    tables: dict[tuple[str | None, str], dict[str, Any]] = {}
    indexes: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    for path in paths:
        for statement in _statements(Path(path).read_text()):
            if match := _CREATE_TABLE.match(statement):
                schema, table = _split_name(match["name"])
                tables.setdefault((schema, table), {"kind": "table", "columns": [], "not_null": []})
                open_index = match.end() - 1
                body = statement[open_index + 1 : _matching_paren(statement, open_index)]
                for item in _split_top_level(body):
                    _parse_item(item, schema, table, tables, constraints)
            elif match := _CREATE_VIEW.match(statement):
                schema, view = _split_name(match["name"])
                kind = "materialized view" if match["mat"] else "view"
                tables.setdefault((schema, view), {"kind": kind, "columns": [], "not_null": []})
            elif match := _CREATE_INDEX.match(statement):
                schema, table = _split_name(match["table"])
                indexes.append({"name": _ident(match["name"]), "schema": schema, "table": table})
            elif match := _DROP_INDEX.match(statement):  # a later file retires an index
                indexes = [i for i in indexes if i["name"] != _ident(match["name"])]
            elif match := _ALTER_TABLE.match(statement):
                schema, table = _split_name(match["table"])
                tables.setdefault((schema, table), {"kind": "table", "columns": [], "not_null": []})
                for action in _split_top_level(match["actions"]):
                    added = re.match(
                        r"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(.*)$", action, re.I | re.S
                    )
                    if added:
                        _parse_item(added.group(1), schema, table, tables, constraints)
    return {
        "schema_files": [Path(p).name for p in paths],
        "tables": [{"schema": s, "name": t, **spec} for (s, t), spec in tables.items()],
        "indexes": indexes,
        "constraints": constraints,
    }


def _qualified(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _describe(c: dict[str, Any]) -> str:
    table = _qualified(c.get("schema"), c["table"])
    if c.get("name"):
        return f"{table}: CONSTRAINT {c['name']}"
    cols = ", ".join(c.get("columns") or [])
    kind = {"p": "PRIMARY KEY", "u": "UNIQUE", "f": "FOREIGN KEY", "c": "CHECK"}[c["type"]]
    text = f"{table}: {kind} ({cols})" if cols or kind != "CHECK" else f"{table}: CHECK"
    if c["type"] == "f" and c.get("references"):
        text += f" REFERENCES {c['references']}"
    return text


def _constraint_matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    if expected.get("name"):
        return actual["constraint_name"] == expected["name"]
    if actual["constraint_type"] != expected["type"]:
        return False
    if expected["type"] in ("p", "u"):
        return set(actual["columns"]) == set(expected["columns"])
    if expected["type"] == "f":
        return actual["columns"] == expected["columns"] and (
            not expected.get("references") or actual["referenced_table"] == expected["references"]
        )
    return set(expected["columns"]) <= set(actual["columns"])  # CHECK: on (at least) that column


def schema_readiness(conn: psycopg.Connection, *, expected: dict | None = None) -> dict[str, Any]:
    """Compare what the schema files create (or `expected`, as expected_schema() returns it) with
    the catalog; report missing tables, columns, NOT NULLs, constraints and indexes, and invalid
    indexes. Unqualified names resolve through the search_path, as the package's SQL does."""
    expected = expected if expected is not None else expected_schema()
    columns = db.fetch_all(conn, "audit/list_schema_columns.sql", {})
    index_rows = db.fetch_all(conn, "audit/list_schema_indexes.sql", {})
    constraint_rows = db.fetch_all(conn, "audit/list_schema_constraints.sql", {})

    relations: dict[tuple[str, str], dict[str, Any]] = {}
    visible: dict[str, str] = {}
    for row in columns:
        rel = relations.setdefault((row["schema_name"], row["table_name"]), {"columns": {}})
        if row["column_name"] is not None:
            rel["columns"][row["column_name"]] = row["not_null"]
        if row["visible"]:
            visible[row["table_name"]] = row["schema_name"]

    def resolve(schema: str | None, name: str) -> str | None:
        if schema is not None:
            return schema if (schema, name) in relations else None
        return visible.get(name)

    missing_tables, missing_columns, missing_not_null = [], [], []
    for table in expected["tables"]:
        schema = resolve(table.get("schema"), table["name"])
        label = _qualified(table.get("schema"), table["name"])
        if schema is None:
            missing_tables.append(label)
            continue
        actual = relations[(schema, table["name"])]["columns"]
        missing_columns += [f"{label}.{c}" for c in table.get("columns", []) if c not in actual]
        missing_not_null += [
            f"{label}.{c} NOT NULL" for c in table.get("not_null", []) if c in actual and not actual[c]
        ]

    by_table: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in constraint_rows:
        by_table.setdefault((row["schema_name"], row["table_name"]), []).append(row)
    missing_constraints, unvalidated = [], []
    for constraint in expected["constraints"]:
        schema = resolve(constraint.get("schema"), constraint["table"])
        if schema is None:
            continue  # the table is reported missing
        candidates = by_table.get((schema, constraint["table"]), [])
        found = next((c for c in candidates if _constraint_matches(constraint, c)), None)
        if found is None:
            missing_constraints.append(_describe(constraint))
        else:
            candidates.remove(found)  # one catalog constraint satisfies one expectation
            if not found["validated"]:
                unvalidated.append(f"{_describe(constraint)} [{found['constraint_name']}]")

    indexes = {(r["schema_name"], r["index_name"]): r for r in index_rows}
    missing_indexes, invalid_indexes = [], []
    for index in expected["indexes"]:
        schema = resolve(index.get("schema"), index["table"])
        label = f"{index['name']} (on {_qualified(index.get('schema'), index['table'])})"
        if schema is None:
            continue  # the table is reported missing
        found = indexes.get((schema, index["name"]))
        if found is None or found["table_name"] != index["table"]:
            missing_indexes.append(label)
        elif not found["valid"]:
            invalid_indexes.append(label)

    problems = (
        missing_tables,
        missing_columns,
        missing_not_null,
        missing_constraints,
        unvalidated,
        missing_indexes,
        invalid_indexes,
    )
    return {
        "ready": not any(problems),
        "schema_files": expected.get("schema_files", []),
        "tables": {"expected": len(expected["tables"]), "missing": missing_tables},
        "columns": {
            "expected": sum(len(t.get("columns", [])) for t in expected["tables"]),
            "missing": missing_columns,
            "not_null_missing": missing_not_null,
        },
        "constraints": {
            "expected": len(expected["constraints"]),
            "missing": missing_constraints,
            "not_validated": unvalidated,
        },
        "indexes": {
            "expected": len(expected["indexes"]),
            "missing": missing_indexes,
            "invalid": invalid_indexes,
        },
    }
