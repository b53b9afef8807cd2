"""polynomial-degree (the course's "ConvNets for newcomers", file 002 L86-89: overfitting, which the
course's translation calls "retraining"): on 15 noisy points of a sine curve "a third-degree
polynomial" gives "a good approximation of the original curve"; a 14th-degree one "would ideally
describe the training set" but "does not coincide with the original curve anywhere except for the
learning points".

The course's example, measured: `train_size` points x evenly spaced on [0, 1], targets
sin(2 pi x) plus Gaussian noise (seeded) of standard deviation `noise` (the text gives no level: 0.2 here);
every polynomial degree from 0 to `train_size - 1` fitted by least squares (numpy's
`Polynomial.fit`, which maps x onto [-1, 1] first so the high degrees stay well conditioned). Each
fit is scored on its training points, on 1,000 fresh noisy points from the same curve (held out),
and against the noiseless curve itself on a fine grid. The claim holds when degree 14 has the lower
training error and degree 3 the lower held-out error. Pure numpy, well under a second.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError, check_range
from .common import check_common, environment, pyplot, save_figure

DEGREES = (3, 14)   # the course's two polynomials
HELD_OUT = 1000     # fresh noisy points the fits are scored on
GRID = 1000         # points of [0, 1] the fits are set beside the noiseless curve on


def curve(x: np.ndarray) -> np.ndarray:
    """The course's "original sine curve": one period on [0, 1]."""
    return np.sin(2 * np.pi * x)


@dataclass
class PolynomialDegree:
    train_size: int = 15        # noisy training points (the course's 15)
    noise: float = 0.2          # standard deviation of the noise added to sin(2 pi x) (the text names none)
    seed: int = 0               # the points and their noise
    x: np.ndarray | None = None                      # (train_size,) training inputs
    y: np.ndarray | None = None                      # (train_size,) noisy targets
    fits: dict[int, dict] = field(default_factory=dict)  # degree -> train_rmse, held_out_rmse, curve_rmse, ...
    environment: dict = field(default_factory=dict)  # torch, threads, CPU, device: see common.environment

    def validate(self) -> PolynomialDegree:
        check_common(self)
        check_range("noise", self.noise, 0, None)
        if self.train_size < max(DEGREES) + 1:
            raise UserError(f"--train-size {self.train_size} is too few points: a polynomial of degree "
                            f"{max(DEGREES)} needs {max(DEGREES) + 1} to be fixed by them (the course's 15)")
        return self

    def run(self, log=print, callbacks=()) -> PolynomialDegree:
        self.validate()
        self.environment = environment()
        rng = np.random.default_rng(self.seed)
        self.x = np.linspace(0, 1, self.train_size)  # evenly spaced, as in the course's figure: no gap to fill
        self.y = curve(self.x) + rng.normal(0, self.noise, self.train_size)
        x_out = rng.uniform(0, 1, HELD_OUT)
        y_out = curve(x_out) + rng.normal(0, self.noise, HELD_OUT)
        grid = np.linspace(0, 1, GRID)
        log(f"Fitting polynomials of degree 0 to {self.train_size - 1} to {self.train_size} noisy points of "
            f"sin(2 pi x)")
        for degree in range(self.train_size):
            p = np.polynomial.Polynomial.fit(self.x, self.y, degree)
            rmse = lambda a, b: float(np.sqrt(np.mean((a - b) ** 2)))  # noqa: E731
            self.fits[degree] = {
                "train_rmse": rmse(p(self.x), self.y), "held_out_rmse": rmse(p(x_out), y_out),
                "curve_rmse": rmse(p(grid), curve(grid)),
                "largest_coefficient": float(np.abs(p.convert().coef).max()),  # in powers of x itself
                "coefficients": p.convert().coef.tolist()}
        return self

    def finding(self) -> str:
        lo, hi = (self.fits[d] for d in DEGREES)
        holds = hi["train_rmse"] < lo["train_rmse"] and hi["held_out_rmse"] > lo["held_out_rmse"]
        best = self.best_degree()
        return (f"on {self.train_size} points (noise {self.noise:g}), degree 3: training RMSE {lo['train_rmse']:.3f}, "
                f"held-out {lo['held_out_rmse']:.3f}; degree 14: training {hi['train_rmse']:.1e}, held-out "
                f"{hi['held_out_rmse']:.3g} ({hi['held_out_rmse'] / lo['held_out_rmse']:.0f}x degree 3's; "
                f"the noise alone scores {self.noise:g}); lowest held-out error at degree {best}: "
                + ("the 14th-degree polynomial fits the training points and misses the curve" if holds
                   else "the claim does not show in this setting"))

    def best_degree(self) -> int:
        return min(self.fits, key=lambda d: self.fits[d]["held_out_rmse"])

    def table(self):
        from rich.table import Table

        table = Table(title=f"Polynomials fitted to {self.train_size} points of sin(2 pi x) + noise "
                            f"(std {self.noise:g}, seed {self.seed}); RMSE", title_justify="left")
        for col in ("degree", "training", "held out", "vs the curve", "largest |coef|"):
            table.add_column(col, justify="right", no_wrap=True)
        for d, f in self.fits.items():
            mark = " (course)" if d in DEGREES else " (best)" if d == self.best_degree() else ""
            table.add_row(f"{d}{mark}", f"{f['train_rmse']:.2e}", f"{f['held_out_rmse']:.3g}",
                          f"{f['curve_rmse']:.3g}", f"{f['largest_coefficient']:.3g}",
                          style="bold" if d in DEGREES else None)
        return table

    def plot(self, path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
        grid = np.linspace(0, 1, GRID)
        left.plot(grid, curve(grid), color="grey", lw=1, label="sin(2 pi x), the original curve")
        left.plot(self.x, self.y, "o", mfc="none", color="tab:blue", label=f"{self.train_size} noisy points")
        for d, color in zip(DEGREES, ("tab:green", "tab:red")):
            coef = np.array(self.fits[d]["coefficients"])
            left.plot(grid, np.polynomial.Polynomial(coef)(grid), color=color,
                      label=f"degree {d} (held-out RMSE {self.fits[d]['held_out_rmse']:.3g})")
        left.set_ylim(-2, 2)  # degree 14 leaves the frame between the points: that is the finding
        left.set_xlabel("x")
        left.set_title("The course's two fits")
        degrees = list(self.fits)
        for key, label in (("train_rmse", "training points"), ("held_out_rmse", "held-out points")):
            right.semilogy(degrees, [max(self.fits[d][key], 1e-16) for d in degrees], "o-", label=label)
        right.axhline(self.noise, color="grey", ls="--", lw=1, label=f"the noise ({self.noise:g})")
        right.set_xlabel("polynomial degree")
        right.set_ylabel("RMSE (log scale)")
        right.set_title("Error by degree")
        for ax in (left, right):
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        save_figure(fig, path)

    def to_dict(self) -> dict:
        return {"train_size": self.train_size, "noise": self.noise, "seed": self.seed, "held_out": HELD_OUT,
                "x": self.x.tolist(), "y": self.y.tolist(), "fits": {str(d): f for d, f in self.fits.items()},
                "best_degree": self.best_degree(), "finding": self.finding(), "environment": self.environment}
