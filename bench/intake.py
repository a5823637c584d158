"""Intake at a year's volume: import, de-duplicate, group and triage generated signals, against
the raw cost of the same files in the same run.

The generator writes one file per shipped channel mapping (cases/feeds/channels), in that
channel's own format and columns, from its sample in docs/samples/intake: each row a sample row
with a new reference, a product from a pool (so signals group into cases), and a report text of
its own; 3 % exact repeats (the same reference again), 2 % near-duplicates (the same report
under a new reference) and 1 % bad rows (no reference, or a date in no declared format).

`seconds`: `riskgate intake import`'s work in-process — every file imported (cases/importer.py),
then the bulk triage of all new cases (flows/gates/bulk_triage.py, the body of the
`triage-intake` flow run) — on a fresh store. `baseline_seconds`: parsing the same files with
the csv/json modules and inserting the same rows with plain batched inserts into a bare table,
on a fresh store of the same kind. Each runs in a child process of its own, which reports its
peak RSS; `--memory` also imports a tenth of the signals, so the two peaks can be compared.

    python bench/intake.py [--signals 70000] [--postgres URL] [--memory]

The last line is one JSON object (signals, seconds, baseline_seconds, ratio, peak_rss_mb,
duplicates_found, rejected, and the same for PostgreSQL when --postgres is given).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARES = {"online_opinion": 0.40, "complaint_12365": 0.20, "collaboration_network": 0.10,
          "consumer_association": 0.08, "supervision_sampling": 0.08,
          "injury_surveillance": 0.06, "defect_recall": 0.03, "port_inspection": 0.03,
          "foreign_regulator": 0.02}
EXACT, NEAR, BAD = 0.03, 0.02, 0.01
SIGNALS_PER_PRODUCT = 13


def _column(spec, field: str) -> str | None:
    """The source column a signal field is read from (the first, for a template)."""
    from cases.feeds.mapping import spec_columns

    found = spec.fields.get(field)
    columns = spec_columns(found) if found is not None else []
    return columns[0] if columns else None


def _sample_records(mapping, path: Path) -> tuple[list[str], list[dict]]:
    if mapping.format == "csv" or path.suffix == ".csv":
        with path.open(encoding=mapping.spec.encoding, newline="") as handle:
            reader = csv.DictReader(handle, delimiter=mapping.spec.delimiter)
            return list(reader.fieldnames or []), list(reader)
    if path.suffix == ".json":
        records = json.loads(path.read_text(encoding=mapping.spec.encoding))
    else:
        records = [json.loads(line) for line in path.read_text(
            encoding=mapping.spec.encoding).splitlines() if line.strip()]
    return [], records


def _text(rng: random.Random, n: int = 30) -> str:
    return "".join(chr(0x4E00 + rng.randrange(6000)) for _ in range(n))


def generate(total: int, folder: Path, seed: int = 7) -> dict:
    """Write one file per channel; returns what was generated."""
    from cases import feeds

    rng = random.Random(seed)
    made = {"signals": 0, "exact": 0, "near": 0, "bad": 0, "files": []}
    samples = REPO / "docs" / "samples" / "intake"
    for channel, share in SHARES.items():
        mapping = feeds.channel_mapping(channel)
        sample = next(p for p in sorted(samples.glob(f"{channel}.*")))
        header, templates = _sample_records(mapping, sample)
        spec = mapping.spec
        ref_col = spec.reference.column if spec.reference else None
        columns = {f: _column(spec, f) for f in ("product.name", "product.model",
                                                 "enterprise.name", "description",
                                                 "received_at")}
        count = max(1, int(total * share))
        pool = max(1, count // SIGNALS_PER_PRODUCT)
        rows: list[dict] = []
        for j in range(count):
            kind = rng.random()
            if rows and kind < EXACT:
                rows.append(dict(rng.choice(rows)))
                made["exact"] += 1
                continue
            if rows and kind < EXACT + NEAR:
                near = dict(rng.choice(rows))
                near[ref_col] = f"N{channel[:4].upper()}{j:07d}"
                if columns["description"]:
                    near[columns["description"]] = str(near[columns["description"]]) + "。"
                rows.append(near)
                made["near"] += 1
                continue
            product = rng.randrange(pool)
            row = dict(templates[product % len(templates)])  # a product keeps its template
            row[ref_col] = f"B{channel[:4].upper()}{j:07d}"
            if columns["product.name"]:
                row[columns["product.name"]] = f"{row[columns['product.name']]}{product}"
            if columns["product.model"]:
                row[columns["product.model"]] = f"M{product}"
            if columns["enterprise.name"]:
                row[columns["enterprise.name"]] = f"{row[columns['enterprise.name']]}{product}"
            if columns["description"]:  # each report in its own words
                row[columns["description"]] = f"{str(row[columns['description']])[:20]}" \
                                              f"{_text(rng, 80)}"
            if kind > 1 - BAD:
                if columns["received_at"] and j % 2:
                    row[columns["received_at"]] = "not a date"
                else:
                    row[ref_col] = ""
                made["bad"] += 1
            rows.append(row)
        out = folder / f"{channel}{sample.suffix}"
        if header:
            with out.open("w", encoding=spec.encoding, newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=header,
                                        delimiter=spec.delimiter)
                writer.writeheader()
                writer.writerows(rows)
        elif sample.suffix == ".json":
            out.write_text(json.dumps(rows, ensure_ascii=False), encoding=spec.encoding)
        else:
            out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                           encoding=spec.encoding)
        made["signals"] += len(rows)
        made["files"].append(str(out))
    return made


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_import(url: str, files: list[str]) -> dict:
    if os.environ.get("RISKGATE_BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        found = profile.runcall(_import, url, files)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(60)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(40)
        return found
    return _import(url, files)


def _import(url: str, files: list[str]) -> dict:
    from cases import feeds
    from cases.config import load_settings
    from cases.db import database
    from cases.import_runs import Counts
    from cases.importer import import_file
    from flows.gates.bulk_triage import triage_cases

    db = database(url)
    started = time.perf_counter()
    total = Counts()
    new_cases: list[str] = []
    for name in files:
        path = Path(name)
        result = import_file(db, path, feeds.channel_mapping(path.stem), actor="bench",
                             hold=True)
        total.add(result.counts)
        new_cases += result.new_case_ids
    imported = time.perf_counter()
    import_rss = peak_rss_mb()
    triaged = triage_cases(load_settings(), new_cases)
    done = time.perf_counter()
    return {"seconds": round(done - started, 2), "import_seconds": round(imported - started, 2),
            "triage_seconds": round(done - imported, 2), "counts": total.to_dict(),
            "by_priority": triaged.by_priority(), "peak_rss_mb": peak_rss_mb(),
            "import_peak_rss_mb": import_rss}


def _insert(engine, table, batch: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(table.insert(), batch)
    batch.clear()


def child_baseline(url: str, files: list[str]) -> dict:
    import sqlalchemy as sa

    from cases import feeds

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table("raw_signal", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("channel", sa.String), sa.Column("reference", sa.String),
                     sa.Column("payload", sa.JSON))
    meta.create_all(engine)
    started = time.perf_counter()
    for name in files:
        path = Path(name)
        mapping = feeds.channel_mapping(path.stem)
        ref = mapping.spec.reference.column if mapping.spec.reference else None
        batch: list[dict] = []

        with path.open(encoding=mapping.spec.encoding, newline="") as handle:
            if path.suffix == ".csv":
                records = csv.DictReader(handle, delimiter=mapping.spec.delimiter)
            elif path.suffix == ".json":
                records = json.load(handle)
            else:
                records = (json.loads(line) for line in handle if line.strip())
            for record in records:
                batch.append({"channel": path.stem, "reference": record.get(ref, ""),
                              "payload": record})
                if len(batch) >= 1000:
                    _insert(engine, table, batch)
        if batch:
            _insert(engine, table, batch)
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": peak_rss_mb()}


def run_child(kind: str, url: str, files: list[str], home: Path) -> dict:
    env = {**os.environ, "RISKGATE_HOME": str(home), "RISKGATE_DATABASE_URL": url}
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--url", url, *files],
                          env=env, capture_output=True, text=True, check=False)
    if os.environ.get("RISKGATE_BENCH_PROFILE") and kind == "import":
        Path(home / "profile.txt").write_text(done.stderr)
        print(f"profile: {home / 'profile.txt'}", file=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_postgres(base_url: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def measure(label: str, files: list[str], work: Path, postgres: str | None) -> dict:
    if postgres:
        url = fresh_postgres(postgres, f"rg_bench_{label}")
        base = fresh_postgres(postgres, f"rg_bench_{label}_base")
    else:
        url = f"sqlite:///{work / f'{label}.db'}"
        base = f"sqlite:///{work / f'{label}-base.db'}"
    home = work / f"home-{label}"
    home.mkdir()
    imported = run_child("import", url, files, home)
    baseline = run_child("baseline", base, files, home)
    return {"seconds": imported["seconds"], "baseline_seconds": baseline["seconds"],
            "ratio": round(imported["seconds"] / baseline["seconds"], 2),
            "import_seconds": imported["import_seconds"],
            "triage_seconds": imported["triage_seconds"], "counts": imported["counts"],
            "by_priority": imported["by_priority"], "peak_rss_mb": imported["peak_rss_mb"],
            "import_peak_rss_mb": imported["import_peak_rss_mb"],
            "baseline_peak_rss_mb": baseline["peak_rss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=70_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its server): measure there too")
    parser.add_argument("--memory", action="store_true",
                        help="also import a tenth of the signals, to compare peak memory")
    parser.add_argument("--child", choices=("import", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        work = child_import if args.child == "import" else child_baseline
        print(json.dumps(work(args.url, args.files)))
        return

    work_dir = Path(tempfile.mkdtemp(prefix="riskgate-intake-bench-"))
    folder = work_dir / "files"
    folder.mkdir()
    made = generate(args.signals, folder)
    print(f"generated {made['signals']} rows in {len(made['files'])} files: "
          f"{made['exact']} exact repeats, {made['near']} near-duplicates, {made['bad']} bad",
          file=sys.stderr)
    sqlite = measure("sqlite", made["files"], work_dir, None)
    print(f"sqlite: {json.dumps(sqlite)}", file=sys.stderr)
    result = {"signals": made["signals"], "seconds": sqlite["seconds"],
              "baseline_seconds": sqlite["baseline_seconds"], "ratio": sqlite["ratio"],
              "peak_rss_mb": sqlite["peak_rss_mb"],
              "import_peak_rss_mb": sqlite["import_peak_rss_mb"],
              "duplicates_found": sqlite["counts"]["duplicates"],
              "duplicates_generated": made["exact"] + made["near"],
              "rejected": sqlite["counts"]["rejected"], "bad_generated": made["bad"],
              "new_cases": sqlite["counts"]["new_cases"], "by_priority": sqlite["by_priority"],
              "import_seconds": sqlite["import_seconds"],
              "triage_seconds": sqlite["triage_seconds"]}
    if args.memory:
        small_folder = work_dir / "small"
        small_folder.mkdir()
        small = generate(args.signals // 10, small_folder)
        small_run = measure("sqlite_small", small["files"], work_dir, None)
        result["small_signals"] = small["signals"]
        result["small_peak_rss_mb"] = small_run["peak_rss_mb"]
        result["small_import_peak_rss_mb"] = small_run["import_peak_rss_mb"]
    if args.postgres:
        pg = measure("pg", made["files"], work_dir, args.postgres)
        print(f"postgresql: {json.dumps(pg)}", file=sys.stderr)
        result["postgres"] = {k: pg[k] for k in ("seconds", "baseline_seconds", "ratio",
                                                 "peak_rss_mb", "import_seconds",
                                                 "triage_seconds")}
        result["postgres"]["duplicates_found"] = pg["counts"]["duplicates"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
