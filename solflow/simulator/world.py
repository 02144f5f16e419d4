"""World: the state one simulated chain shares across its transactions.

Randomness (one `random.Random(seed)`), deterministic keys, the account ledger, the address lookup
tables v0 transactions load shared accounts from, and the recent blockhashes transactions cite.
"""

from __future__ import annotations

import random
from collections import deque

from solflow.simulator import keys
from solflow.simulator.keys import Keyring
from solflow.simulator.ledger import Ledger
from solflow.simulator.tx import LookupTable

_RECENT_BLOCKHASHES = 150  # a blockhash stays valid for about 150 slots

# Program-level accounts that routers and bots keep in their lookup tables.
_SHARED = (
    keys.SYSTEM_PROGRAM,
    keys.TOKEN_PROGRAM,
    keys.TOKEN_2022_PROGRAM,
    keys.ATA_PROGRAM,
    keys.RENT_SYSVAR,
    keys.INSTRUCTIONS_SYSVAR,
    keys.METAPLEX_PROGRAM,
    keys.PUMP_FEE_PROGRAM,
    keys.WSOL,
    keys.USDC,
    keys.PUMPFUN_PROGRAM,
    keys.PUMPSWAP_PROGRAM,
    keys.LAUNCHLAB_PROGRAM,
    keys.MOONSHOT_PROGRAM,
    keys.DCA_PROGRAM,
    keys.PUMPFUN_GLOBAL,
    keys.PUMPFUN_EVENT_AUTHORITY,
    keys.PUMPFUN_GLOBAL_VOLUME,
    keys.PUMPFUN_FEE_CONFIG,
    keys.PUMPSWAP_GLOBAL_CONFIG,
    keys.PUMPSWAP_EVENT_AUTHORITY,
    keys.PUMPSWAP_GLOBAL_VOLUME,
    keys.PUMPSWAP_FEE_CONFIG,
    keys.LAUNCHLAB_AUTHORITY,
    keys.LAUNCHLAB_EVENT_AUTHORITY,
    keys.DCA_EVENT_AUTHORITY,
    keys.JUPITER_V6_PROGRAM,
)


class World:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.keyring = Keyring(seed)
        self.ledger = Ledger()
        self.lookup_tables = [LookupTable(self.keyring.fresh(f"lookup-table/{i}")) for i in range(2)]
        self.shared_accounts: dict[bytes, int] = {}
        self._blockhashes: deque[bytes] = deque(maxlen=_RECENT_BLOCKHASHES)
        self.share(*_SHARED)

    def share(self, *accounts: bytes) -> None:
        """Make `accounts` loadable from a lookup table by v0 transactions."""
        for account in accounts:
            if account not in self.shared_accounts:
                self.shared_accounts[account] = len(self.shared_accounts) % len(self.lookup_tables)

    def add_blockhash(self, blockhash: bytes) -> None:
        self._blockhashes.append(blockhash)

    def recent_blockhash(self) -> bytes:
        if not self._blockhashes:
            self._blockhashes.append(self.keyring.fresh("genesis-blockhash"))
        pick = self.rng.randrange(min(len(self._blockhashes), 40))
        return self._blockhashes[-1 - pick]
