"""`classicnets study NAME`: a sentence of the course measured (a table, a PNG and a JSON of every number)."""
from __future__ import annotations

import argparse

from ..errors import UserError
from .options import PROG, depths, finite, output_dir, progress_callbacks

# The options studies take: (flag, type, what it sets); each study's registry entry says which it
# takes and their defaults, shown in the help beside each option.
OPTIONS = [
    ("--length", int, "steps of the sequences the gradients are measured on; shared-weights and conv-backprop: "
                      "inputs of the 1D convolution"),
    ("--units", int, "width of each recurrent network"),
    ("--epochs", int, "training epochs (vanishing-gradients: 0 measures at initialisation only)"),
    ("--train-length", int, "steps of the training sequences (the adding problem)"),
    ("--data", str, "image data set to train on (see `classicnets datasets`), e.g. cifar10 for the course's "
                    "setting"),
    ("--depths", depths, "comma-separated depths: degradation's two CIFAR depths, shallow first; dense-vs-conv's "
                         "and highway's layer counts, increasing"),
    ("--width", int, "degradation: filters of the first stage (the paper's 16); dense-vs-conv: filters per "
                     "convolution; highway: units per layer; residual-identity: hidden units of F"),
    ("--lr", finite, "learning rate per step"),
    ("--kernel", int, "weights of the 1D convolution's filter"),
    ("--radius", finite, "spectral radius of the SimpleRNN's recurrent weights (past 1: exploding)"),
    ("--clip-norm", finite, "the clipped run's gradient norm limit (the training option --clip-norm)"),
    ("--clip-value", finite, "the clipped run's gradient value limit, 0: off (the training option --clip-value)"),
    ("--train-size", int, "training examples used, a seeded sample (0: the whole training split); "
                          "polynomial-degree: the points fitted (at least 15)"),
    ("--noise", finite, "polynomial-degree: standard deviation of the noise added to sin(2 pi x)"),
    ("--weight-decay", finite, "residual-identity: L2 penalty of the runs with weight decay"),
    ("--carry-bias", finite, "highway: initial bias of the highway layers' transform gates"),
    ("--dense-width", int, "dense-vs-conv: units of every dense hidden layer"),
    ("--batch-size", int, "conv-cost: images per timed step"),
    ("--repeats", int, "conv-cost: timed steps of each network"),
    ("--seed", int, "seeds weights, data and batch order"),
]
METAVARS = {"--data": "NAME", "--depths": "D1,D2"}


def add_parser(sub) -> None:
    from ..studies.registry import STUDIES

    st = sub.add_parser("study", help=f"experiments that teach: a course sentence measured ({', '.join(STUDIES)})",
                        description="Turn a sentence of the course into a measurement: a table, a PNG and a JSON "
                        "of every number. " + " ".join(f"{n}: {i.measures}." for n, i in STUDIES.items())
                        + f" `{PROG} study --list` quotes the sentence each tests. Options apply to the studies "
                        "named in their help; each study has its own defaults.")
    st.add_argument("name", nargs="?", choices=tuple(STUDIES), metavar="NAME", help=f"one of {', '.join(STUDIES)}")
    st.add_argument("--list", action="store_true", help="name every study with the course sentence it tests")
    for flag, kind, what in OPTIONS:
        key = flag[2:].replace("-", "_")
        defaults = ", ".join(f"{n} {_option_text(i.options[key])}" for n, i in STUDIES.items() if key in i.options)
        extra = {"metavar": METAVARS[flag]} if flag in METAVARS else {}
        st.add_argument(flag, type=kind, default=None, help=f"{what} (default: {defaults})".replace("%", "%%"), **extra)
    st.add_argument("--out", default="studies", help="directory for the PNG and JSON (default: studies)")
    st.set_defaults(func=run)


def run(a: argparse.Namespace) -> int:
    from ..studies.registry import STUDIES, get_study

    if a.list:
        if a.name:
            raise UserError("give either a study's name or --list, not both (--list names every study)")
        _print_studies(STUDIES)
        return 0
    if not a.name:
        raise UserError(f"name a study, one of {', '.join(STUDIES)} (`{PROG} study --list` says what each tests)")
    info = get_study(a.name)
    given = {k: getattr(a, k) for k in _study_options(STUDIES) if getattr(a, k) is not None}
    for key in given:  # refused before any work: the registry knows each study's options without torch
        if key not in info.options:
            takes = [n for n, i in STUDIES.items() if key in i.options]
            raise UserError(f"--{key.replace('_', '-')} does not apply to {a.name}; it is an option of "
                            f"{', '.join(takes)}")
    out = output_dir(a.out)
    study = info.load()(**given).validate()  # one sentence for a value out of range, before any work

    from ..fileio import write_json
    from ..terminal import print_table
    study.run(log=lambda s: print(s, flush=True), callbacks=progress_callbacks("auto"))
    print_table(study.table())
    print(study.finding())
    png, record = out / f"{a.name}.png", out / f"{a.name}.json"
    try:
        study.plot(png)
        write_json(record, {"study": a.name, "course": {"file": info.claim.file, "line": info.claim.line,
                                                         "quote": info.claim.quote}, **study.to_dict()})
    except OSError as e:  # checked before the study ran; the disk filled up or the directory changed since
        raise UserError(f"cannot write in --out {out} ({e.strerror or e}); the table above holds the study's "
                        f"numbers") from None
    print(f"Saved {png} and {record}")
    return 0


def _study_options(studies) -> list[str]:
    """Every option some study takes (field names), in the order first declared."""
    return list(dict.fromkeys(k for info in studies.values() for k in info.options))


def _print_studies(studies) -> None:
    from rich.table import Table
    from rich.text import Text

    from ..terminal import print_table

    table = Table(caption=f"Run one: {PROG} study NAME [options]; its table is printed, and a PNG and a "
                          f"JSON of every number go to --out (default: studies)")
    table.add_column("study", no_wrap=True)
    table.add_column("course", no_wrap=True)
    table.add_column("the sentence it tests; what is measured; options (default)", min_width=30)
    for name, info in studies.items():
        opts = " ".join(f"--{k.replace('_', '-')} {_option_text(v)}" for k, v in info.options.items())
        table.add_row(name, info.claim.where(),
                      Text.assemble(f"\"{info.claim.quote}\"\n", (f"{info.measures}\n{opts}", "dim")),
                      end_section=True)
    print_table(table)


def _option_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) \
        else str(value)
