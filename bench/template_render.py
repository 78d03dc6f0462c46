"""Benchmark: rendering the comment email in-process vs through the isolated workers.

Run: ``.venv/bin/python bench/template_render.py [--count 300]``

The default "Ticket comment changed" template with the sample data saving uses (every tag
filled, three comments) is rendered ``--count`` times in this process (``render_email``,
what main did inside addComment) and as many times through the isolated worker processes
(``render_isolated``, what addComment and the send path do now): p50 and p95 in ms, and the
ratio. Then the time ``check_render`` (the test render of createEmailTemplate /
updateEmailTemplate) takes to refuse each hostile template of issue 13, which must stay
under 3 s, and the cold start of a worker. No database is needed.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from mailscanner import isolated
from mailscanner.outbound.render import check_render, render_isolated, sample_context
from mailscanner.outbound.templates import (
    DEFAULT_COMMENT_BODY,
    DEFAULT_COMMENT_SUBJECT,
    render_email,
)

HOSTILE = {
    "range(20000) nested loops":
        "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}",
    "(9**64)**64... arithmetic": "{% set x = (((9**64)**64)**64)**64 %}{{ x > 1 }}",
    "~ string doubling": "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
                         "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000)


async def main(count: int) -> None:
    ctx = sample_context()
    started = time.perf_counter()
    await render_isolated(DEFAULT_COMMENT_SUBJECT, DEFAULT_COMMENT_BODY, ctx)
    print(f"cold start of an isolated worker + first render: "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    here: list[float] = []
    pool: list[float] = []
    for _ in range(count):
        t = time.perf_counter()
        render_email(DEFAULT_COMMENT_SUBJECT, DEFAULT_COMMENT_BODY, ctx)
        here.append(time.perf_counter() - t)
        t = time.perf_counter()
        await render_isolated(DEFAULT_COMMENT_SUBJECT, DEFAULT_COMMENT_BODY, ctx)
        pool.append(time.perf_counter() - t)
    (h50, h95), (p50, p95) = _ms(here), _ms(pool)
    print(f"{'render of the default template':34} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'in-process (baseline)':34} {h50:8.2f} {h95:8.2f}")
    print(f"{'isolated worker':34} {p50:8.2f} {p95:8.2f}   ratio p50 {p50 / h50:.1f}x")
    print(f"\n{'hostile template refused on save':34} {'seconds':>8}  limit")
    for name, body in HOSTILE.items():
        t = time.perf_counter()
        failure = await check_render("[$helpdesk-ticket_no$] x", body)
        took = time.perf_counter() - t
        limit = getattr(failure[1], "limit", "?") if failure else "NOT REFUSED"
        print(f"{name:34} {took:8.2f}  {limit}")
    isolated.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    asyncio.run(main(parser.parse_args().count))
