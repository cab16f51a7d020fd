"""Progress on stderr: a tqdm bar on a terminal, plain lines (every few seconds) otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    """Runs done, rate and time left.

    Args:
        total: runs in the batch; initial: runs already done (a resumed batch).
        enabled: ``None`` or ``True`` shows progress, ``False`` shows nothing.
        every_s: seconds between plain lines when stderr is not a terminal.
        started: when the work began (``time.perf_counter()``), for a bar made after it
            (the rate counts from there); None: now.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        enabled: bool | None = True,
        every_s=5.0,
        started: float | None = None,
    ):
        self.total, self.done, self.start_done = total, initial, initial
        self.enabled = enabled is not False
        self.every_s = every_s
        self.t0 = self.last = time.perf_counter() if started is None else started
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                unit="run",
                file=sys.stderr,
                smoothing=0.1,
                dynamic_ncols=True,
            )
            self.bar.start_t -= time.perf_counter() - self.t0  # tqdm's own clock

    def update(self, n: int) -> None:
        """Count ``n`` more runs done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        if self.enabled and (now - self.last >= self.every_s or self.done >= self.total):
            self.last = now
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """The plain progress line: runs done, rate, time left."""
        elapsed = time.perf_counter() - self.t0
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = f"{left:.0f} s" if left == left else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"batch: {self.done}/{self.total} runs ({pct:.0f}%), {rate:.1f} runs/s, ETA {eta}"

    def write(self, text: str) -> None:
        """Print a message on stderr without breaking the bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the bar, if there is one."""
        if self.bar is not None:
            self.bar.close()
