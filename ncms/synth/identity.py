"""Who the members are: national IDs, names, birth dates, computed for whole columns at once.

A national ID is built from its parts as integers (area code, birth date, sequence) and its
ISO 7064 MOD 11-2 check character is the weighted digit sum of those parts, so a million IDs
cost a few array operations; ``ncms.ids.national_id_check_character`` is the reference the
tests compare against.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = np.array(list("10X98765432"))


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of internal day numbers (days since 1970-01-01)."""
    d = np.asarray(days, dtype="int64").astype("datetime64[D]")
    years = d.astype("datetime64[Y]")
    months = d.astype("datetime64[M]")
    return ((years.astype(np.int64) + 1970), (months - years).astype(np.int64) + 1,
            (d - months).astype(np.int64) + 1)


def age_in_year(birth_year: np.ndarray, birth_md: np.ndarray, year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Completed years on 1 January and on 31 December of ``year``: any day of care lies between.

    ``birth_md`` is month * 100 + day; only those born on 1 January are a year older on 1 January.
    """
    end = np.asarray(year, dtype=np.int64) - birth_year
    return end - (birth_md > 101), end


def _digit_sum(values: np.ndarray, width: int, weights: tuple[int, ...]) -> np.ndarray:
    total = np.zeros(len(values), dtype=np.int64)
    for i, w in enumerate(weights):
        total += (values // 10 ** (width - 1 - i)) % 10 * w
    return total


def national_ids(area: np.ndarray, birth: np.ndarray, sex: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """Valid, unique IDs: the sequence (odd for men) is numbered within area, birth date and sex."""
    y, m, d = ymd(birth)
    born = y * 10000 + m * 100 + d
    key = (area * 10**8 + born) * 2 + sex
    shuffled = rng.permutation(len(key))
    order = shuffled[np.argsort(key[shuffled], kind="stable")]
    ordered = key[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]] if len(key) else np.zeros(0, dtype=bool)
    group = np.cumsum(starts) - 1
    rank = np.arange(len(order)) - np.flatnonzero(starts)[group]
    if len(rank) and rank.max() >= 500:
        raise ValueError("more than 500 members of one sex share an area and birth date")
    offset = rng.integers(0, 500, size=int(starts.sum()))[group]
    sequence = np.empty(len(key), dtype=np.int64)
    sequence[order] = (offset + rank) % 500 * 2 + sex[order]
    total = _digit_sum(area, 6, WEIGHTS[:6]) + _digit_sum(born, 8, WEIGHTS[6:14]) + _digit_sum(sequence, 3, WEIGHTS[14:])
    body = area * 10 ** 11 + born * 1000 + sequence
    check = CHECK_CHARACTERS[total % 11]
    return pl.Series(body).cast(pl.String) + pl.Series(check)


def names(surname: np.ndarray, sex: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """Surname index plus one or two given-name characters from the pool of the member's sex."""
    n = len(surname)
    surnames = pl.Series(list(F.SURNAMES)).gather(surname)
    male, female = list(F.MALE_GIVEN), list(F.FEMALE_GIVEN)
    parts = []
    for _ in range(2):
        pick_m = pl.Series(male).gather(rng.integers(0, len(male), n))
        pick_f = pl.Series(female).gather(rng.integers(0, len(female), n))
        parts.append(pick_m.zip_with(pl.Series(sex == 1), pick_f))
    second = parts[1].zip_with(pl.Series(rng.random(n) < 0.7), pl.Series([""] * n))
    return surnames + parts[0] + second


def surname_index(n: int, rng: np.random.Generator) -> np.ndarray:
    """Common surnames are common: a Zipf-like draw over the list, most frequent first."""
    weights = 1.0 / np.arange(1, len(F.SURNAMES) + 1) ** 0.9
    return rng.choice(len(F.SURNAMES), size=n, p=weights / weights.sum())
