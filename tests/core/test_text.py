"""core.text: escaping, numbers and sections that fit Slack's limits."""

from __future__ import annotations

from nurture_ops.core import text as core_text


def test_escape_code_and_numbers():
    assert core_text.escape("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d"
    assert core_text.code("SELECT `x` FROM t WHERE a < 1") == "`SELECT 'x' FROM t WHERE a &lt; 1`"
    assert core_text.code("x" * 50, limit=10) == "`" + "x" * 9 + "…`"
    assert (core_text.num(1234567), core_text.num(10.25, 2), core_text.num(None), core_text.num(3.0)) == (
        "1,234,567",
        "10.25",
        "n/a",
        "3.0",
    )
    assert core_text.minute("2026-11-04T10:01:00+00:00") == "2026-11-04 10:01 UTC"
    assert (
        core_text.plural(1, "run"),
        core_text.plural(2, "run"),
        core_text.plural(2, "index", "indexes"),
    ) == (
        "1 run",
        "2 runs",
        "2 indexes",
    )


def test_fit_keeps_head_tail_and_the_worst_items_within_the_limit():
    items = [f"• item {i} " + "x" * 90 for i in range(100)]
    text = core_text.fit(["HEAD"], items, ["TAIL"], limit=1000)
    assert len(text) <= 1000
    lines = text.split("\n")
    assert lines[0] == "HEAD" and lines[-1] == "TAIL"
    assert lines[1].startswith("• item 0 ")
    shown = len(lines) - 3
    assert lines[-2] == f"_…and {100 - shown} more (see the task's XCom)_"
    assert core_text.fit(["a"], ["b"]) == "a\nb"
