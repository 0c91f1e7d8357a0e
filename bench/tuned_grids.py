"""Writes bench/grids/tuned-DATASET-PART.toml from finished tuning runs (issue 18, item 2).

For every model of runs/tune-DATASET/tune-PART (one per policy, or the dense model), takes the
grid cell (lr x dropout) that `cargo xtask choose` picks: the highest mean best-dev accuracy over
the tuning grid's seeds (dev only; ties: the first cell in grid order), the rule the report's
tuning section applies (the rule lives there, in xtask/src/tuning.rs, not here). It writes a
grid that trains that cell with the following seeds, so that each chosen setting has 10 seeds
(IMDB: 5, issue 18's minimum for a large set; its tuning grid has one seed per cell). Where
bench/grids/edge-DATASET-PART.toml exists (an edge probe: the next value beyond an edge a
choice sat on; a grid of `lr` x `dropout` or a `probe` list of cells), its runs in
runs/tune-DATASET/edge-PART count as cells too. A part with a cell that not every seed of the
tuning grid finished is skipped with a message. The xtask binary is $XTASK, else the release
build under $CARGO_TARGET_DIR or target/ (bench/tune.sh builds it).

Usage: python3 bench/tuned_grids.py DATASET...   (then `bash bench/tune.sh DATASET...`)
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS_PER_SETTING = {"imdb": 5}
SEEDS_DEFAULT = 10


def main(datasets):
    for d in datasets:
        for grid in sorted((ROOT / "bench/grids").glob(f"tune-{d}-*.toml")):
            part = grid.stem[len(f"tune-{d}-"):]
            g = tomllib.loads(grid.read_text())
            # Edge probes (bench/grids/edge-DATASET-PART.toml, where there is one) count as
            # cells of the grid: the next value beyond an edge the choice sat on.
            edge = ROOT / f"bench/grids/edge-{d}-{part}.toml"
            parts = [(g, ROOT / f"runs/tune-{d}/tune-{part}")]
            if edge.exists():
                parts.append((tomllib.loads(edge.read_text()), ROOT / f"runs/tune-{d}/edge-{part}"))
            cells = {}
            dirs = [str(out) for _, out in parts if out.is_dir()]
            tune_seeds = g["grid"]["seed"]
            expected = len(tune_seeds)
            tuned_seeds = list(range(max(tune_seeds) + 1, SEEDS_PER_SETTING.get(d, SEEDS_DEFAULT) + 1))
            n_cells = 0
            for pg, out in parts:
                gg = pg["grid"]
                cells_here = len(gg["probe"]) if "probe" in gg else len(gg["lr"]) * len(gg["dropout"])
                n_cells += cells_here * len(gg.get("policy", [0]))
                for cfg in sorted((out / "configs").glob("*.toml")) if out.is_dir() else []:
                    c = tomllib.loads(cfg.read_text())
                    summary = out / cfg.stem / "summary.json"
                    if c["seed"] not in tune_seeds or not summary.exists():
                        continue
                    model = c.get("policy", "set") if not c.get("dense") else "dense"
                    key = (model, c["lr"], c["dropout_embed"], c["dropout_output"])
                    cells[key] = cells.get(key, 0) + 1
            done = [k for k, v in cells.items() if v == expected]
            if len(done) < n_cells:
                print(f"{grid.name}: {len(done)} of {n_cells} cells finished; skipped")
                continue
            choices = []
            picks = chosen(dirs)
            # One choice per model of the grid, each a mean over exactly the grid's seeds (a stray
            # run of another seed in the folder would change which seeds the means cover).
            models = sorted(g["grid"]["policy"]) if "policy" in g["grid"] else None
            got = sorted(c["model"] for c in picks)
            if (models is not None and got != models) or (models is None and len(got) != 1):
                sys.exit(f"{grid.name}: xtask chose for {got}, expected one choice per model of the grid")
            for c in picks:
                if c["seeds"] != sorted(tune_seeds):
                    sys.exit(f"{grid.name}: {c['group']}: means over seeds {c['seeds']}, not the grid's {tune_seeds}")
            for c in picks:
                model = c["model"]
                lr, de, do = c["lr"], c["dropout_embed"], c["dropout_output"]
                print(f"{d} {part} {model}: lr {lr}, dropout {de}/{do}: mean best dev {c['mean_best_dev']:.4f}")
                entry = f'{{ lr = {lr}, dropout_embed = {de}, dropout_output = {do}'
                if "policy" in g["grid"]:
                    entry += f', policy = "{model}"'
                choices.append(entry + " }")
            base = grid.read_text().split("[grid]")[0]
            base = re.sub(r"(?m)^#.*\n", "", base).strip()
            text = (
                f"# Written by bench/tuned_grids.py from runs/tune-{d}/tune-{part}: each model at the setting\n"
                f"# of its highest mean best-dev accuracy over {seeds_text(tune_seeds)} of bench/grids/{grid.name},\n"
                f"# with {seeds_text(tuned_seeds)} ({seeds_text(tune_seeds)}: the tuning runs). Run by bench/tune.sh {d}.\n"
                f"{base}\n\n[grid]\nchosen = [{', '.join(choices)}]\nseed = {tuned_seeds}\n"
            )
            (ROOT / f"bench/grids/tuned-{d}-{part}.toml").write_text(text)


def chosen(dirs):
    """Each model group's chosen cell of the finished runs in `dirs`, from `xtask choose`
    ($XTASK, else the release build under $CARGO_TARGET_DIR or target/)."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    xtask = os.environ.get("XTASK") or str(target / "release/xtask")
    try:
        # xtask's own error message goes to this script's stderr.
        out = subprocess.run([xtask, "choose", *dirs], check=True, stdout=subprocess.PIPE, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"no xtask binary at {xtask}: build it with `cargo build --release -p xtask` or set XTASK")
    except subprocess.CalledProcessError as e:
        sys.exit(f"`{xtask} choose` failed (exit {e.returncode}); is the binary current? `cargo build --release -p xtask`")
    return sorted((json.loads(line) for line in out.splitlines() if line.strip()), key=lambda c: c["group"])


def seeds_text(seeds):
    """`seeds 1-3` for consecutive seeds, `seed 1` for one."""
    return f"seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"


if __name__ == "__main__":
    main(sys.argv[1:] or ["uci", "sanders"])
