"""Writes bench/grids/tuned-DATASET-PART.toml from finished tuning runs (issue 18, item 2).

For every model of runs/tune-DATASET/tune-PART (one per policy, or the dense model), picks the
grid cell (lr x dropout) with the highest mean best-dev accuracy over seeds 1-3 (dev only; ties:
the first cell in grid order) and writes a grid that trains that cell with seeds 4-10, so that
each chosen setting has 10 seeds. Only cells every seed of the tuning grid finished count; a
part whose grid is not finished is skipped with a message. `cargo xtask report` recomputes the
same selection from the record and shows it.

Usage: python3 bench/tuned_grids.py DATASET...   (then `bash bench/tune.sh DATASET...`)
"""
import json
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
TUNE_SEEDS = (1, 2, 3)
TUNED_SEEDS = list(range(4, 11))


def main(datasets):
    for d in datasets:
        for grid in sorted((ROOT / "bench/grids").glob(f"tune-{d}-*.toml")):
            part = grid.stem[len(f"tune-{d}-"):]
            out = ROOT / f"runs/tune-{d}/tune-{part}"
            g = tomllib.loads(grid.read_text())
            cells = {}
            expected = len(g["grid"]["seed"])
            for cfg in sorted((out / "configs").glob("*.toml")) if out.is_dir() else []:
                c = tomllib.loads(cfg.read_text())
                summary = out / cfg.stem / "summary.json"
                if c["seed"] not in TUNE_SEEDS or not summary.exists():
                    continue
                model = c.get("policy", "set") if not c.get("dense") else "dense"
                key = (model, c["lr"], c["dropout_embed"], c["dropout_output"])
                cells.setdefault(key, []).append(json.loads(summary.read_text())["best_dev_accuracy"])
            n_cells = len(g["grid"]["lr"]) * len(g["grid"]["dropout"]) * len(g["grid"].get("policy", [0]))
            done = [k for k, v in cells.items() if len(v) == expected]
            if len(done) < n_cells:
                print(f"{grid.name}: {len(done)} of {n_cells} cells finished; skipped")
                continue
            order = [(lr, dr["dropout_embed"]) for lr in g["grid"]["lr"] for dr in g["grid"]["dropout"]]
            best = {}
            for k in sorted(done, key=lambda k: order.index((k[1], k[2]))):
                mean = sum(cells[k]) / len(cells[k])
                if k[0] not in best or mean > best[k[0]][1]:
                    best[k[0]] = (k, mean)
            choices = []
            for model, ((_, lr, de, do), mean) in sorted(best.items()):
                print(f"{d} {part} {model}: lr {lr}, dropout {de}/{do}: mean best dev {mean:.4f}")
                entry = f'{{ lr = {lr}, dropout_embed = {de}, dropout_output = {do}'
                if "policy" in g["grid"]:
                    entry += f', policy = "{model}"'
                choices.append(entry + " }")
            base = grid.read_text().split("[grid]")[0]
            base = re.sub(r"(?m)^#.*\n", "", base).strip()
            text = (
                f"# Written by bench/tuned_grids.py from runs/tune-{d}/tune-{part}: each model at the setting\n"
                f"# of its highest mean best-dev accuracy over seeds 1-3 of bench/grids/{grid.name}, with\n"
                f"# seeds 4-10 (seeds 1-3 are the tuning runs). Run by bench/tune.sh {d}.\n"
                f"{base}\n\n[grid]\nchosen = [{', '.join(choices)}]\nseed = {TUNED_SEEDS}\n"
            )
            (ROOT / f"bench/grids/tuned-{d}-{part}.toml").write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:] or ["uci", "sanders"])
