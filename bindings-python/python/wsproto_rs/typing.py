"""Type aliases shared by the public API."""

from __future__ import annotations

from typing import List, Tuple

#: HTTP headers as (name, value) pairs, in order.
Headers = List[Tuple[bytes, bytes]]
