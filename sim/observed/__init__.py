"""Observed series: the public data the model is held against (issue 11).

The raw files live in a data folder outside the repository (``docs/DATA.md``); this
package finds it (:func:`data_dir`), checks it (:func:`check_folder`) and turns it into
tidy tables (:func:`observed_series`)::

    from sim.observed import observed_series
    df = observed_series({"AZ": "AZE", "RU": "RUS", "US": "USA", "EU": "EU27"},
                         axis=("US", "RU"))
"""

from sim.observed.countries import GROUPS, country_table, resolve_codes
from sim.observed.series import COLUMNS, OBSERVABLES, Observable, observed_series
from sim.observed.settings import DataDir, data_dir, describe_data_dir, resolve_data_dir
from sim.observed.sources import SOURCES, FolderReport, Source, check_folder, format_report

__all__ = [
    "COLUMNS",
    "GROUPS",
    "OBSERVABLES",
    "SOURCES",
    "DataDir",
    "FolderReport",
    "Observable",
    "Source",
    "check_folder",
    "country_table",
    "data_dir",
    "describe_data_dir",
    "format_report",
    "observed_series",
    "resolve_codes",
    "resolve_data_dir",
]
