"""XDM speed: current records as validated XDM JSON objects and back, per entity.

    python bench/xdm_export.py --lake bench/out/large-lake/accord.duckdb [--limit 100000]

Times `iter_xdm` (what `accord export xdm` runs: each record mapped to its XDM class and validated against Adobe's
schemas and the tenant's field group) over the first `--limit` records of each entity, and prints records per
second, with the share of it spent checking objects against the schemas; then reads the same objects back into
records as `accord import xdm` does (`XdmReader`: validated again, without loading them) and prints that rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from accord.lake.export import iter_xdm
from accord.lake.store import Lake
from accord.model import xdm

ENTITIES = ("person", "account", "opportunity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=100_000)
    args = parser.parse_args()
    validating = [0.0]
    validate = xdm._check_schemas

    def timed(*a: object, **kw: object) -> None:
        started = time.perf_counter()
        validate(*a, **kw)  # type: ignore[arg-type]
        validating[0] += time.perf_counter() - started

    xdm._check_schemas = timed  # the writer calls it through the module
    with Lake(args.lake) as lake:
        for entity in ENTITIES:
            validating[0] = 0.0
            started = time.perf_counter()
            docs = list(iter_xdm(lake, entity, limit=args.limit))
            seconds = time.perf_counter() - started
            records = len(docs)
            print(f"{entity:12} {records:>9,} records in {seconds:6.2f} s = {records / seconds:>8,.0f} per s "
                  f"({validating[0] / seconds:.0%} validating)")
            reader = xdm.XdmReader(entity, lake.schema)
            started = time.perf_counter()
            for doc in docs:
                reader.read(doc)
            seconds = time.perf_counter() - started
            print(f"{'':12} {records:>9,} read back in {seconds:6.2f} s = {records / seconds:>8,.0f} per s")


if __name__ == "__main__":
    main()
