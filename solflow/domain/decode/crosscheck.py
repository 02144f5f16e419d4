"""Cross-check of decoded trades against balance changes.

Each trade's token amount should equal its trader's token change of the mint (summed over the trades
of the same trader and mint, so round trips net out). A Token-2022 mint with a transfer fee may leave
the trader short by up to the traded amount: the event reports the pool side. When the trader's
accounts show no change (a router trading from its own authority) the DCA account (for DCA fills) and
then the fee payer are tried; when no candidate shows any change the trade is unverifiable, not wrong.
"""

from __future__ import annotations

from typing import Literal

from solflow.domain.decode.balances import TokenBalances
from solflow.domain.trade import TradeEvent

Outcome = Literal["agree", "disagree", "unverifiable"]


def candidate_owners(trades: list[TradeEvent], fee_payer: str) -> set[str]:
    """Every owner whose balance changes ``cross_check`` may look at."""
    owners = {fee_payer}
    for trade in trades:
        owners.add(trade.trader)
        if trade.is_dca and trade.pool:
            owners.add(trade.pool)
    return owners


def cross_check(trades: list[TradeEvent], balances: TokenBalances, fee_payer: str) -> list[Outcome]:
    """One outcome per trade, in order."""
    expected: dict[tuple[str, str], int] = {}
    volume: dict[tuple[str, str], int] = {}
    for trade in trades:
        key = (trade.trader, trade.mint)
        amount = trade.token_amount_raw
        expected[key] = expected.get(key, 0) + (amount if trade.direction == "buy" else -amount)
        volume[key] = volume.get(key, 0) + amount
    by_group: dict[tuple[str, str], Outcome] = {}
    outcomes: list[Outcome] = []
    for trade in trades:
        key = (trade.trader, trade.mint)
        outcome = by_group.get(key)
        if outcome is None:
            candidates = [trade.trader]
            if trade.is_dca and trade.pool:
                candidates.append(trade.pool)
            candidates.append(fee_payer)
            outcome = by_group[key] = _check_group(key, candidates, expected, volume, balances)
        outcomes.append(outcome)
    return outcomes


def _check_group(
    key: tuple[str, str],
    candidates: list[str],
    expected: dict[tuple[str, str], int],
    volume: dict[tuple[str, str], int],
    balances: TokenBalances,
) -> Outcome:
    trader, mint = key
    tolerant = balances.is_token_2022(mint)
    for owner in dict.fromkeys(candidates):
        want = expected[key]
        traded = volume[key]
        if owner != trader:  # the candidate's own trades of the mint land in the same accounts
            want += expected.get((owner, mint), 0)
            traded += volume.get((owner, mint), 0)
        observed = balances.delta(owner, mint)
        if observed == want or (tolerant and want - traded <= observed <= want):
            return "agree"
        if observed != 0:
            return "disagree"
    return "unverifiable"
