"""Bot rules: does a wallet's trading over a short window look automated (the original's four rules).

A wallet is a bot over a set of its trades if any rule fires:

1. more than 10 trades;
2. at least 3 gaps of at most 1 s between adjacent trades in time order;
3. with at least 4 trades, more than 70 % of adjacent pairs (chain order) change direction;
4. with at least 3 trades, more than half of all pairs have SOL amounts less than 0.0001 SOL
   (100,000 lamports) apart. A pair involving a trade not quoted in SOL is never identical.

Chain order (block time, slot, transaction index, instruction path) replaces the original's arrival
order, so the answer does not depend on how trades reached us. Ratios are compared as exact integers.
Wallets are rated over windows of at most ``BOT_HORIZON_S``: the rules were designed for 5 minutes
and rating a wallet over hours would keep every trade of those hours in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BOT_HORIZON_S = 300
MAX_TRADES = 10
MAX_FAST_GAP_S = 1
MIN_FAST_GAPS = 3
MIN_TRADES_ALTERNATION = 4
MIN_TRADES_IDENTICAL = 3
IDENTICAL_LAMPORTS = 100_000  # 0.0001 SOL: amounts closer than this are "identical"

BotTrade = Sequence[Any]  # (block_time: int, is_buy: bool, sol_lamports: int | None, ...) -- extra fields ignored


def is_bot(trades: Sequence[BotTrade]) -> bool:
    """Rate one wallet over ``trades`` (its trades in the window, in chain order)."""
    count = len(trades)
    if count > MAX_TRADES:
        return True
    if count < MIN_TRADES_IDENTICAL:  # every other rule needs at least 3 trades (rule 2 needs 4)
        return False
    times = sorted(trade[0] for trade in trades)
    fast_gaps = sum(1 for earlier, later in zip(times, times[1:]) if later - earlier <= MAX_FAST_GAP_S)
    if fast_gaps >= MIN_FAST_GAPS:
        return True
    if count >= MIN_TRADES_ALTERNATION:
        alternations = sum(1 for a, b in zip(trades, trades[1:]) if a[1] != b[1])
        if 10 * alternations > 7 * (count - 1):
            return True
    amounts = [trade[2] for trade in trades]
    identical = 0
    for i, first in enumerate(amounts):
        if first is None:
            continue
        for second in amounts[i + 1 :]:
            if second is not None and abs(first - second) < IDENTICAL_LAMPORTS:
                identical += 1
    return 4 * identical > count * (count - 1)  # identical / (n(n-1)/2) > 0.5
