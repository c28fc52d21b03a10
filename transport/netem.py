"""netem impairment specifications: parse ``tc ... netem`` option strings, print them back.

The grammar and defaults follow iproute2's ``tc/q_netem.c`` (not only the man page):
percentages are ``10%`` or a bare ``10`` (both mean 10 %), times take ``s/ms/us/ns``
suffixes and a bare number is microseconds, rates take tc's units (``kbit``, ``mbit``,
``Bps``, ...) and a bare number is bit/s. Optional numeric arguments are recognised, as
tc does, by their first character being a digit. ``loss gemodel p`` alone sets r = 100 %,
1-h = 100 %, 1-k = 0 % (what tc sends the kernel; the man page's "r = 1-p" is not what
the code does), so the printed form always spells out all four parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
DEFAULT_LIMIT = 1000

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "ms": 1e-3, "msec": 1e-3, "msecs": 1e-3,
               "us": 1e-6, "usec": 1e-6, "usecs": 1e-6, "ns": 1e-9, "nsec": 1e-9, "nsecs": 1e-9,
               "": 1e-6}
_RATE_UNITS = {"bit": 1.0, "kibit": 1024.0, "kbit": 1e3, "mibit": 1024.0 ** 2, "mbit": 1e6,
               "gibit": 1024.0 ** 3, "gbit": 1e9, "tibit": 1024.0 ** 4, "tbit": 1e12,
               "bps": 8.0, "kibps": 8 * 1024.0, "kbps": 8e3, "mibps": 8 * 1024.0 ** 2,
               "mbps": 8e6, "gibps": 8 * 1024.0 ** 3, "gbps": 8e9, "tibps": 8 * 1024.0 ** 4,
               "tbps": 8e12, "": 1.0}
_IFACE = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")


class NetemSpecError(ValueError):
    """A netem specification string is invalid; the message names the offending token."""


@dataclass(frozen=True)
class NetemSpec:
    """A parsed netem configuration. Probabilities and correlations are fractions in
    [0, 1]; times are seconds; ``rate`` is bit/s (0 = unlimited). ``gemodel`` is
    ``(p, r, 1-h, 1-k)`` and ``loss_state`` is ``(p13, p31, p32, p23, p14)``."""

    limit: int = DEFAULT_LIMIT
    delay: float = 0.0
    jitter: float = 0.0
    delay_correlation: float = 0.0
    distribution: str | None = None
    loss: float = 0.0
    loss_correlation: float = 0.0
    gemodel: tuple[float, float, float, float] | None = None
    loss_state: tuple[float, float, float, float, float] | None = None
    duplicate: float = 0.0
    duplicate_correlation: float = 0.0
    reorder: float = 0.0
    reorder_correlation: float = 0.0
    gap: int = 0
    corrupt: float = 0.0
    corrupt_correlation: float = 0.0
    rate: float = 0.0
    packet_overhead: int = 0
    cell_size: int = 0
    cell_overhead: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.reorder and self.delay == 0:
            raise NetemSpecError("reorder needs a delay (netem sends reordered packets "
                                 "immediately and delays the others)")
        if self.reorder and self.gap == 0:
            object.__setattr__(self, "gap", 1)  # as tc does
        if self.gap and not self.reorder:
            raise NetemSpecError("gap given without a reorder probability")
        if self.distribution is not None and (self.delay == 0 or self.jitter == 0):
            raise NetemSpecError("distribution given without both a delay and a jitter")
        if self.distribution is not None and self.distribution not in DISTRIBUTIONS:
            raise NetemSpecError(f"unknown distribution {self.distribution!r}")
        if self.limit < 1 or self.rate < 0 or self.cell_size < 0:
            raise NetemSpecError("limit must be >= 1, rate and cell size >= 0")

    def to_tc_args(self) -> str:
        """The canonical netem option string (``parse_netem`` of it gives this spec back)."""
        out: list[str] = []
        if self.limit != DEFAULT_LIMIT:
            out += ["limit", str(self.limit)]
        if self.delay or self.jitter:
            out += ["delay", _time(self.delay)]
            if self.jitter or self.delay_correlation:
                out.append(_time(self.jitter))
                if self.delay_correlation:
                    out.append(_pct(self.delay_correlation))
            if self.distribution:
                out += ["distribution", self.distribution]
        if self.loss:
            out += ["loss", "random", _pct(self.loss)]
            if self.loss_correlation:
                out.append(_pct(self.loss_correlation))
        if self.gemodel:
            out += ["loss", "gemodel", *map(_pct, self.gemodel)]
        if self.loss_state:
            out += ["loss", "state", *map(_pct, self.loss_state)]
        for name in ("corrupt", "duplicate", "reorder"):
            if getattr(self, name):
                out += [name, _pct(getattr(self, name))]
                if getattr(self, f"{name}_correlation"):
                    out.append(_pct(getattr(self, f"{name}_correlation")))
        if self.gap > 1:
            out += ["gap", str(self.gap)]
        if self.rate:
            out += ["rate", _rate(self.rate)]
            tail = [self.packet_overhead, self.cell_size, self.cell_overhead]
            while tail and not tail[-1]:
                tail.pop()
            out += [str(v) for v in tail]
        if self.seed is not None:
            out += ["seed", str(self.seed)]
        return " ".join(out)

    def to_tc_command(self, iface: str) -> str:
        """The exact command a tester runs on a real host (root, or CAP_NET_ADMIN)."""
        if not _IFACE.fullmatch(iface):
            raise ValueError(f"invalid interface name {iface!r}")
        return f"tc qdisc replace dev {iface} root netem {self.to_tc_args()}".rstrip()


def _g(value: float) -> str:
    return format(value, ".10g")


def _pct(fraction: float) -> str:
    return f"{_g(fraction * 100)}%"


def _time(seconds: float) -> str:
    return f"{_g(seconds * 1e3)}ms"


def _rate(bps: float) -> str:
    for unit, scale in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bps >= scale and float(bps / scale).is_integer():
            return f"{_g(bps / scale)}{unit}"
    return f"{_g(bps)}bit"


class _Tokens:
    """The token stream with tc's "next is a number" look-ahead."""

    def __init__(self, text: str) -> None:
        self.items, self.i = text.split(), 0

    def next(self, what: str, after: str) -> str:
        if self.i >= len(self.items):
            raise NetemSpecError(f"{after!r} needs {what}, but the specification ended")
        self.i += 1
        return self.items[self.i - 1]

    def number_next(self, signed: bool = False) -> bool:
        if self.i >= len(self.items):
            return False
        c = self.items[self.i][0]
        return c.isdigit() or (signed and c == "-")


def _scaled(token: str, units: dict[str, float], what: str, after: str) -> float:
    m = re.fullmatch(f"({_NUMBER})([A-Za-z]*)", token)
    if not m or m.group(2).lower() not in units:
        raise NetemSpecError(f"bad {what} {token!r} after {after!r}")
    value = float(m.group(1)) * units[m.group(2).lower()]
    if value < 0:
        raise NetemSpecError(f"negative {what} {token!r} after {after!r}")
    return value


def _percent(tok: _Tokens, what: str, after: str) -> float:
    token = tok.next(what, after)
    m = re.fullmatch(f"({_NUMBER})%?", token)
    if not m or not 0 <= float(m.group(1)) <= 100:
        raise NetemSpecError(f"bad {what} {token!r} after {after!r} (expected a percentage 0-100)")
    return float(m.group(1)) / 100


def _integer(tok: _Tokens, what: str, after: str, signed: bool = False) -> int:
    token = tok.next(what, after)
    if not re.fullmatch(r"-?\d+" if signed else r"\d+", token):
        raise NetemSpecError(f"bad {what} {token!r} after {after!r} (expected an integer)")
    return int(token)


def _optional_percents(tok: _Tokens, names: tuple[str, ...], after: str) -> list[float]:
    values = []
    for name in names:
        if not tok.number_next():
            break
        values.append(_percent(tok, name, after))
    return values


def parse_netem(text: str) -> NetemSpec:
    """Parse netem options such as ``"delay 40ms 20ms 25% distribution normal loss 10%"``
    (an optional leading ``netem`` is accepted). Raises :class:`NetemSpecError`."""
    tok = _Tokens(text)
    if tok.items[:1] == ["netem"]:
        tok.i = 1
    v: dict[str, object] = {}
    seen: set[str] = set()
    while tok.i < len(tok.items):
        word = tok.next("an option", "")
        if word in seen and word not in ("loss", "drop"):
            raise NetemSpecError(f"option {word!r} given twice")
        seen.add(word)
        if word == "limit":
            v["limit"] = _integer(tok, "packet count", word)
        elif word in ("delay", "latency"):
            v["delay"] = _scaled(tok.next("a time", word), _TIME_UNITS, "time", word)
            if tok.number_next():
                v["jitter"] = _scaled(tok.next("a jitter", word), _TIME_UNITS, "jitter", word)
                for c in _optional_percents(tok, ("correlation",), word):
                    v["delay_correlation"] = c
        elif word == "distribution":
            name = tok.next("a distribution name", word)
            if name not in DISTRIBUTIONS:
                raise NetemSpecError(f"unknown distribution {name!r} (expected one of "
                                     f"{', '.join(DISTRIBUTIONS)})")
            v["distribution"] = name
        elif word in ("loss", "drop"):
            if any(k in v for k in ("loss", "gemodel", "loss_state")):
                raise NetemSpecError("more than one loss model given")
            _parse_loss(tok, word, v)
        elif word in ("duplicate", "corrupt", "reorder"):
            v[word] = _percent(tok, "probability", word)
            for c in _optional_percents(tok, ("correlation",), word):
                v[f"{word}_correlation"] = c
        elif word == "gap":
            v["gap"] = _integer(tok, "distance", word)
            if v["gap"] == 0:
                raise NetemSpecError("gap must be at least 1")
        elif word == "rate":
            token = tok.next("a rate", word)
            if token.endswith("%"):
                raise NetemSpecError(f"rate {token!r}: a percentage of the link speed "
                                     "is not supported")
            v["rate"] = _scaled(token, _RATE_UNITS, "rate", word)
            if v["rate"] == 0:
                raise NetemSpecError(f"rate {token!r} must be positive")
            for name, signed in (("packet_overhead", True), ("cell_size", False),
                                 ("cell_overhead", True)):
                if not tok.number_next(signed):
                    break
                v[name] = _integer(tok, name.replace("_", " "), word, signed)
        elif word == "seed":
            v["seed"] = _integer(tok, "seed", word)
        elif word in ("ecn", "slot"):
            raise NetemSpecError(f"netem option {word!r} is not supported here")
        else:
            raise NetemSpecError(f"unknown netem option {word!r}")
    return NetemSpec(**v)  # type: ignore[arg-type]


def _parse_loss(tok: _Tokens, word: str, v: dict[str, object]) -> None:
    if tok.number_next():  # old syntax: "loss 10%" means "loss random 10%"
        kind = "random"
    else:
        kind = tok.next("a loss model or percentage", word)
    if kind == "random":
        v["loss"] = _percent(tok, "loss probability", f"{word} random")
        for c in _optional_percents(tok, ("correlation",), f"{word} random"):
            v["loss_correlation"] = c
    elif kind == "gemodel":
        p = _percent(tok, "p", f"{word} gemodel")
        rest = _optional_percents(tok, ("r", "1-h", "1-k"), f"{word} gemodel")
        v["gemodel"] = tuple([p, *rest, *(1.0, 1.0, 0.0)[len(rest):]])
    elif kind == "state":
        p13 = _percent(tok, "p13", f"{word} state")
        rest = _optional_percents(tok, ("p31", "p32", "p23", "p14"), f"{word} state")
        v["loss_state"] = tuple([p13, *rest, *(1.0 - p13, 0.0, 1.0, 0.0)[len(rest):]])
    else:
        raise NetemSpecError(f"unknown loss model {kind!r} after {word!r} "
                             "(expected random, state, gemodel or a percentage)")

