"""Helpers the benchmark scripts share (``benchmarks/`` is ``sys.path[0]`` when one runs as a script):
administrative SQL on the server's ``postgres`` database, and Zipf-distributed draws."""

from __future__ import annotations

import random


def admin_sql(server: str, sql: str) -> None:
    """Run ``sql`` (CREATE / DROP DATABASE) on ``server``'s ``postgres`` database, autocommit."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def zipf_choices(items: list, n: int, s: float, rng: random.Random) -> list:
    """``n`` draws from ``items`` with Zipf(``s``) popularity; which item has which rank is random."""
    ranked = list(items)
    rng.shuffle(ranked)  # popularity rank → item, at random
    cum, total = [], 0.0
    for rank in range(1, len(ranked) + 1):
        total += rank**-s
        cum.append(total)
    return rng.choices(ranked, cum_weights=cum, k=n)
