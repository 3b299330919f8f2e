"""Write a benchmark corpus of synthetic DICOM files.

    python bench/corpus.py bench/corpus --small 1000 --ct 300

writes OUT_DIR/small/ (N small 64 x 64 CT and MR instances spread over many patients,
studies and series) and OUT_DIR/ct/ (one chest CT of --ct slices, 512 x 512), and prints
what it wrote. The same arguments always give the same files.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hounsfield.demo import Patient, Study, ct_volume, small_corpus, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--small", type=int, default=1000, help="number of small instances")
    parser.add_argument("--ct", type=int, default=300, help="slices of the 512x512 CT (0: none)")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--studies-per-patient", type=int, default=2)
    parser.add_argument("--series-per-study", type=int, default=2)
    parser.add_argument("--size", type=int, default=64, help="rows and columns of small images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    total_bytes = 0
    small_dir = args.out_dir / "small"
    for n, ds in enumerate(small_corpus(args.small, args.patients, args.studies_per_patient,
                                        args.series_per_study, seed=args.seed,
                                        rows=args.size, columns=args.size)):
        total_bytes += write(ds, small_dir / f"{n:07d}.dcm").stat().st_size
    if args.small:
        print(f"small: {args.small} instances in {small_dir}")
    if args.ct:
        patient = Patient("Bench^Volume", f"BENCH{args.seed:04d}", "19700101", "O")
        study = Study.create(patient, "20240101", "CT CHEST BENCH", seed=args.seed)
        ct_dir = args.out_dir / "ct"
        for ds in ct_volume(patient, study, slices=args.ct, seed=args.seed):
            total_bytes += write(ds, ct_dir / f"{int(ds.InstanceNumber):04d}.dcm").stat().st_size
        print(f"ct: {args.ct} slices of 512x512 in {ct_dir}")
    elapsed = time.perf_counter() - started
    print(f"wrote {total_bytes / 1e6:.1f} MB in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
