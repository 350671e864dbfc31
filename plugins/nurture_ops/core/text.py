"""Text for people: numbers, plurals, Slack mrkdwn escaping, sections that fit, Block Kit pieces. Pure.

Slack rejects a section over 3,000 characters: `fit` keeps a section under SECTION_LIMIT, cutting
the least bad items (callers list the worst first). Everything that comes from data goes through
`escape` (mrkdwn control characters &, <, >) before it reaches a message, exactly once: builders
escape each value where they put it into mrkdwn (report sections, alert blocks, the notification
`text`), never a whole assembled text, so the package's own `link`s stay links. Header blocks
are plain_text and take raw text. Cutting a text to a limit (`truncate`, `fit`) never splits an
entity (`&amp;` cut to `&am…` would show as garbage, or unescape what follows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

SECTION_LIMIT = 2500  # report sections; Slack's own limit is 3,000
LINE_LIMIT = 400
QUERY_SHOWN_CHARS = 160
BLOCK_TEXT_LIMIT = 2900  # Slack rejects section text over 3,000 characters
HEADER_LIMIT = 150
EMOJI = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "resolved": ":white_check_mark:",
    "info": ":memo:",
}
WARN, OK, INFO, FAILED = ":warning:", ":white_check_mark:", ":information_source:", ":x:"


def plain(value: Any) -> Any:
    """JSON-friendly values for XCom and messages: Decimal -> float, dates and times -> ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def fmt(value: Any) -> str:
    """Numbers as people read them: 14.3, 1,204; None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if value == 0 or abs(value) >= 0.1 else f"{value:.2f}"
    return str(value)


def fmt_level(value: Any) -> str:
    """Thresholds as the runbook writes them: 10, 0.5, 2."""
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return fmt(value)


def escape(text: Any) -> str:
    """Slack mrkdwn control characters: &, <, > must be escaped in text (code spans and code
    blocks included: Slack reads `<!channel>` and `<url|label>` there too)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """The package's own mrkdwn link `<url|label>`: the label escaped, and the URL kept one link
    (`&` as `&amp;`, which Slack reads back; `<`, `>`, `|` percent-encoded)."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(label)}>"


def code(text: Any, limit: int = QUERY_SHOWN_CHARS) -> str:
    """Inline code: escaped, no backticks, at most `limit` characters."""
    shown = str(text).replace("`", "'")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f"`{escape(shown)}`"


def num(value: Any, digits: int = 1) -> str:
    """1234 -> '1,234'; 12.345 -> '12.3' (digits); None -> 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and digits == 0):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def minute(iso: str) -> str:
    """'2026-11-04T10:01:00+00:00' -> '2026-11-04 10:01 UTC'."""
    return iso[:16].replace("T", " ") + " UTC"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{num(count)} {word if count == 1 else (words or word + 's')}"


def numbered(items: Iterable[str]) -> str:
    """'1. a 2. b' on one line, escaped (report sections)."""
    return " ".join(f"{i}. {escape(item)}" for i, item in enumerate(items, 1))


def _clip(line: str) -> str:
    return truncate(line, LINE_LIMIT)


def fit(head: list[str], items: list[str], tail: Iterable[str] = (), *, limit: int = SECTION_LIMIT) -> str:
    """head + as many items as fit (worst first, so the least bad are cut) + tail, <= limit chars."""
    head, tail = [_clip(x) for x in head], [_clip(x) for x in tail]
    budget = limit - sum(len(x) + 1 for x in head + tail) - 40
    shown: list[str] = []
    for item in (_clip(x) for x in items):
        if len(item) + 1 > budget:
            break
        shown.append(item)
        budget -= len(item) + 1
    if len(shown) < len(items):
        shown.append(f"_…and {len(items) - len(shown)} more (see the task's XCom)_")
    return truncate("\n".join([*head, *shown, *tail]), limit)


def size(value: int | None) -> str:
    if value is None:
        return "n/a"
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"  # pragma: no cover


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f} s"


def not_run_text(title: str, reason: str) -> str:
    """A report section for a part that did not run."""
    return fit([f"*{title}*", f"{WARN} Not reviewed: {escape(reason)}"], [])


def database_unreachable(database: dict | None) -> bool:
    """Whether the run's database probe (None: no probe) found the database unreachable."""
    return database is not None and not database.get("ok", True)


def missing_reason(reads_database: bool, database: dict | None) -> str:
    """Why a report part has no result: held back while the database was down, or its task failed."""
    if reads_database and database_unreachable(database):
        return (
            f"the database was unreachable ({database.get('error_class', '?')}), so this part was "
            "held back. Clear the run once the database is back to complete the review."
        )
    return "the task failed (its failure was posted to Slack); see its log, fix the cause and clear it."


def not_reviewed(parts: dict[str, Any], names: Iterable[str], database: dict | None) -> list[str]:
    """The summary's flag for the parts of `names` without a result ([] when every one has one)."""
    missing = [p for p in names if parts.get(p) is None]
    if not missing:
        return []
    why = "database unreachable" if database_unreachable(database) else "task failed"
    return [f"not reviewed ({why}): {', '.join(missing)}"]


def part_sections(
    headline: list[str],
    parts: dict[str, Any],
    renderers: dict[str, Callable[[dict], str]],
    *,
    titles: dict[str, str],
    database_parts: frozenset[str],
    database: dict | None,
) -> list[str]:
    """A report's sections: the headline, then one per part of `renderers` (in its order), its
    result rendered, or why it has none (`missing_reason`; `database_parts` read the database)."""
    sections = [fit(headline, [])]
    for part, render in renderers.items():
        result = parts.get(part)
        sections.append(
            render(result)
            if result is not None
            else not_run_text(titles[part], missing_reason(part in database_parts, database))
        )
    return sections


def reminders_text(items: tuple[str, ...], cadence: str) -> str:
    return fit([f'*Still to do by hand* (runbook 7 "{cadence}")'], [f"☐ {escape(i)}" for i in items])


# -- Block Kit pieces ---------------------------------------------------------------------------


# The start of an entity `escape` writes, cut before its `;`.
_CUT_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?$")


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut; never inside an escaped entity."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 1]
    return _CUT_ENTITY.sub("", kept) + "…"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, BLOCK_TEXT_LIMIT)}}


def header(text: str) -> dict:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, HEADER_LIMIT), "emoji": True},
    }


def context_block(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, BLOCK_TEXT_LIMIT)}]}


def numbered_lines(items: Iterable[str]) -> str:
    """'1. a' / '2. b' one per line (alert messages: the runbook's action steps)."""
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
