"""Plotting helpers any module may use: matplotlib (Agg) and atomic figure files.

The figures of one subject live with it (:mod:`toolkit.selection.plots`,
:mod:`toolkit.report`); what several need is here: the backend, saving,
log-axis labels and the learning curve of a training run.
"""

from __future__ import annotations

from pathlib import Path

from .fileio import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 130) -> Path:
    """Write ``fig`` atomically (format from the suffix, default png) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    pyplot().close(fig)
    return Path(path)


def plain_log_labels(ax) -> None:
    """Log axis labelled 2.1, 2.5 ... rather than 2.1 x 10^0 (the path spans less than a decade)."""
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)


def plot_learning_curve(history: list[dict], path: Path, title: str = "") -> Path:
    """Losses, validation energy RMSE and learning rate per epoch of one training run."""
    plt = pyplot()
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].semilogy(ep, [h["train_loss"] for h in history], label="train loss")
    ax[0].semilogy(ep, [h["val_loss"] for h in history], label="validation loss")
    if any(h.get("penalty", 0) for h in history):
        ax[0].semilogy(ep, [h["objective"] for h in history], label="validation objective")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("loss (internal units)")
    ax[0].legend()
    ax[1].semilogy(ep, [h["val_rmse_energy"] for h in history], color="C2")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("validation RMSE (energy / atom)")
    ax2 = ax[1].twinx()
    ax2.semilogy(ep, [h["lr"] for h in history], color="0.6", lw=0.8)
    ax2.set_ylabel("learning rate", color="0.5")
    fig.suptitle(title)
    return save_figure(fig, path)
