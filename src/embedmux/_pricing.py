"""Estimated cost of embedding calls, in US dollars.

Prices are USD per 1M input tokens, from the vendors' public price pages
(``PRICES_AS_OF``). They change: pass your own with ``PriceTable.with_prices``
(or ``DEFAULT_PRICES.with_prices({...})``). A model missing from the table has
no price and its cost is ``None``: embedmux never reports a wrong cost.

Models are looked up by their normalised id, as ``EmbeddingSpace.of`` does
(organisation prefix dropped, lower-cased), so an Azure deployment of
``text-embedding-3-small`` costs what OpenAI's does unless you override it.
Work done by a local model costs nothing in dollars: ``local=True`` gives 0.0
whatever the model (the same model served by a paid host is priced by the table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from embedmux._exceptions import ConfigError
from embedmux._types import EmbeddingSpace

PRICES_AS_OF = "2025-01"

_DEFAULT_USD_PER_MILLION: dict[str, float] = {
    # OpenAI, https://openai.com/api/pricing/ (Azure OpenAI lists the same pay-as-you-go rates)
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
    # Mistral, https://mistral.ai/pricing
    "mistral-embed": 0.10,
}


def normalise_model(model: str) -> str:
    """The model id as prices are keyed: no organisation prefix, lower case."""
    return EmbeddingSpace.of(model).model


def _check_price(model: str, price: object) -> float:
    if (
        isinstance(price, bool)
        or not isinstance(price, int | float)
        or not math.isfinite(price)
        or price < 0
    ):
        raise ConfigError(
            f"price of {model!r} must be a finite, non-negative USD per 1M tokens, got {price!r}"
        )
    return float(price)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """USD per 1M input tokens per model; immutable, change by copying with ``with_prices``."""

    usd_per_million: Mapping[str, float] = field(default_factory=dict)
    #: model id as asked -> price, filled on lookup (every response is priced)
    _by_model: dict[str, float | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        prices = {normalise_model(m): _check_price(m, p) for m, p in self.usd_per_million.items()}
        object.__setattr__(self, "usd_per_million", MappingProxyType(prices))

    def with_prices(self, prices: Mapping[str, float | None]) -> PriceTable:
        """A copy with ``prices`` added or replaced; a ``None`` price removes the model."""
        merged = dict(self.usd_per_million)
        for model, price in prices.items():
            if price is None:
                merged.pop(normalise_model(model), None)
            else:
                merged[normalise_model(model)] = price
        return PriceTable(merged)

    def price(self, model: str, *, local: bool = False) -> float | None:
        """USD per 1M tokens for ``model``; 0.0 when ``local``; ``None`` when unknown."""
        if local:
            return 0.0
        try:
            return self._by_model[model]
        except KeyError:
            price = self._by_model[model] = self.usd_per_million.get(normalise_model(model))
            return price

    def cost(self, model: str, prompt_tokens: int, *, local: bool = False) -> float | None:
        """Estimated USD for ``prompt_tokens`` tokens of ``model``, ``None`` when unknown."""
        price = self.price(model, local=local)
        return None if price is None else price * prompt_tokens / 1_000_000


DEFAULT_PRICES = PriceTable(_DEFAULT_USD_PER_MILLION)


def estimate_cost(
    model: str, prompt_tokens: int, table: PriceTable | None = None, *, local: bool = False
) -> float | None:
    """Estimated USD for ``prompt_tokens`` of ``model`` (``DEFAULT_PRICES`` unless ``table``)."""
    return (table or DEFAULT_PRICES).cost(model, prompt_tokens, local=local)
