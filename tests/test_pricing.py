"""Price table and cost estimates."""

from __future__ import annotations

import math

import pytest

from embedmux._exceptions import ConfigError
from embedmux._pricing import DEFAULT_PRICES, PriceTable, estimate_cost, normalise_model


@pytest.mark.parametrize(
    ("model", "usd"),
    [
        ("text-embedding-3-small", 0.02),
        ("text-embedding-3-large", 0.13),
        ("text-embedding-ada-002", 0.10),
        ("mistral-embed", 0.10),
    ],
)
def test_known_models_cost_their_list_price(model: str, usd: float) -> None:
    """One million tokens of a known model cost its price per million."""
    assert estimate_cost(model, 1_000_000) == pytest.approx(usd)


def test_cost_scales_with_tokens() -> None:
    """Cost is proportional to the prompt tokens."""
    assert estimate_cost("text-embedding-3-small", 500) == pytest.approx(0.02 * 500 / 1e6)
    assert estimate_cost("text-embedding-3-small", 0) == 0.0


def test_model_ids_are_normalised_like_spaces() -> None:
    """An organisation prefix and letter case do not change the price."""
    assert normalise_model("OpenAI/Text-Embedding-3-Small") == "text-embedding-3-small"
    assert estimate_cost("openai/TEXT-EMBEDDING-3-LARGE", 1_000_000) == pytest.approx(0.13)


def test_unknown_model_has_no_cost() -> None:
    """A model missing from the table gives None, never a guessed cost."""
    assert estimate_cost("all-MiniLM-L6-v2", 1000) is None
    assert DEFAULT_PRICES.price("nomic-embed-text") is None


def test_local_work_is_free_whatever_the_model() -> None:
    """local=True costs 0.0, also for a model the table does not know."""
    assert estimate_cost("sentence-transformers/all-MiniLM-L6-v2", 10**6, local=True) == 0.0
    assert estimate_cost("text-embedding-3-small", 10**6, local=True) == 0.0


def test_with_prices_overrides_adds_and_removes() -> None:
    """with_prices returns a new table; the original is unchanged."""
    table = DEFAULT_PRICES.with_prices(
        {"Text-Embedding-3-Small": 0.01, "org/my-model": 1.5, "mistral-embed": None}
    )
    assert estimate_cost("text-embedding-3-small", 10**6, table) == pytest.approx(0.01)
    assert estimate_cost("my-model", 10**6, table) == pytest.approx(1.5)
    assert estimate_cost("mistral-embed", 10**6, table) is None
    assert estimate_cost("text-embedding-3-small", 10**6) == pytest.approx(0.02)
    assert estimate_cost("mistral-embed", 10**6) == pytest.approx(0.10)


def test_price_table_is_immutable() -> None:
    """Neither the table nor its mapping can be changed in place."""
    table = PriceTable({"m": 1.0})
    with pytest.raises(TypeError):
        table.usd_per_million["m"] = 2.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        table.usd_per_million = {}  # type: ignore[misc]


@pytest.mark.parametrize("price", [-0.01, math.nan, math.inf, "0.1", True])
def test_invalid_prices_are_config_errors(price: object) -> None:
    """A negative, non-finite or non-numeric price is rejected, naming the model."""
    with pytest.raises(ConfigError, match="'bad-model'"):
        DEFAULT_PRICES.with_prices({"bad-model": price})  # type: ignore[dict-item]
