"""Network namespaces, veth links and iptables rules: the netem fallback where the kernel has
no netem (``tc qdisc ... netem`` answers "Specified qdisc kind is unknown").

Random loss becomes an iptables ``statistic`` rule; everything else (delay, jitter, reorder,
correlated or bursty loss, corruption, rate) goes through an NFQUEUE rule to the userspace
impairer (:mod:`impair.nfqueue`), which runs :class:`transport.impairment.Impairment`.
Only UDP is impaired (WebRTC media); every rule carries the comment :data:`RULE_COMMENT` so
:func:`clear_rules` removes exactly ours. Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace

from transport.netem import NetemSpec

RULE_COMMENT = "focalcall-netem"
CHAINS = {"in": ("INPUT",), "out": ("OUTPUT",), "both": ("INPUT", "OUTPUT")}
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class NetnsError(RuntimeError):
    """A namespace, link or rule operation failed; the message has the command and its error."""


def run(argv: list[str], netns: str | None = None) -> str:
    """Run ``argv`` (inside ``netns`` if given); return stdout, raise :class:`NetnsError` on failure."""
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NetnsError(f"{argv[0]} is not installed (Debian iproute2 / iptables)") from None
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {done.stderr.strip() or f'exit status {done.returncode}'}")
    return done.stdout


def check_name(name: str, what: str = "namespace") -> str:
    """Validate a namespace or interface name (at most 15 safe characters)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid {what} name {name!r} (1-15 characters: letters, digits, _ . -)")
    return name


def unavailable_reason() -> str | None:
    """Why namespaces and iptables cannot be used here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs it)"
    probe = f"fcprobe{os.getpid() % 100000}"
    try:
        run(["ip", "netns", "add", probe])
    except NetnsError as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        run(["iptables", "-w", "-L", "INPUT", "-n"], netns=probe)
    except NetnsError as exc:
        return f"iptables does not work in a namespace: {exc}"
    finally:
        run(["ip", "netns", "delete", probe])
    return None


@dataclass
class VethNamespace:
    """A namespace joined to this one by a veth pair: ``host_ip`` here, ``ns_ip`` inside.

    Use as a context manager: the namespace (and with it the veth pair and its rules) is
    deleted on exit, also after an error.
    """

    name: str
    host_ip: str
    ns_ip: str
    prefix: int = 30

    def __post_init__(self) -> None:
        check_name(self.name)
        network = ipaddress.ip_network(f"{self.host_ip}/{self.prefix}", strict=False)
        if ipaddress.ip_address(self.ns_ip) not in network or self.ns_ip == self.host_ip:
            raise ValueError(f"{self.ns_ip} and {self.host_ip} must be distinct addresses of one /{self.prefix}")
        self.host_link = check_name(f"{self.name[:11]}-h", "interface")
        self.ns_link = check_name(f"{self.name[:11]}-n", "interface")
        self._created = False

    def create(self) -> "VethNamespace":
        """Create the namespace and the link, bring both ends (and the namespace's lo) up."""
        run(["ip", "netns", "add", self.name])
        self._created = True
        try:
            run(["ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.ns_link])
            run(["ip", "link", "set", self.ns_link, "netns", self.name])
            run(["ip", "addr", "add", f"{self.host_ip}/{self.prefix}", "dev", self.host_link])
            run(["ip", "link", "set", self.host_link, "up"])
            run(["ip", "addr", "add", f"{self.ns_ip}/{self.prefix}", "dev", self.ns_link], netns=self.name)
            run(["ip", "link", "set", self.ns_link, "up"], netns=self.name)
            run(["ip", "link", "set", "lo", "up"], netns=self.name)
        except NetnsError:
            self.delete()
            raise
        return self

    def delete(self) -> None:
        """Delete the namespace (its veth end goes with it, taking the peer along); idempotent."""
        if not self._created:
            return
        self._created = False
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "delete", self.host_link], capture_output=True, timeout=30)

    def exec_argv(self, argv: list[str]) -> list[str]:
        """``argv`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def __enter__(self) -> "VethNamespace":
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.delete()


def add_loss_rule(netns: str | None, chain: str, probability: float) -> None:
    """Drop UDP packets on ``chain`` with ``probability`` (iptables ``statistic`` match)."""
    if not 0 < probability <= 1:
        raise ValueError(f"loss probability must be in (0, 1], got {probability}")
    run(["iptables", "-w", "-I", chain, "1", "-p", "udp", "-m", "statistic", "--mode", "random",
         "--probability", f"{probability:.6f}", "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP"],
        netns)


def add_queue_rule(netns: str | None, chain: str, queue_num: int) -> None:
    """Send UDP packets on ``chain`` to NFQUEUE ``queue_num`` (let them pass if nobody listens)."""
    if not 0 <= queue_num <= 65535:
        raise ValueError(f"queue number must be in 0..65535, got {queue_num}")
    run(["iptables", "-w", "-A", chain, "-p", "udp", "-m", "comment", "--comment", RULE_COMMENT,
         "-j", "NFQUEUE", "--queue-num", str(queue_num), "--queue-bypass"], netns)


def clear_rules(netns: str | None) -> int:
    """Delete every rule carrying :data:`RULE_COMMENT`; return how many were removed."""
    removed = 0
    for chain in ("INPUT", "OUTPUT"):
        for line in run(["iptables", "-w", "-S", chain], netns).splitlines():
            if f'--comment {RULE_COMMENT}' in line or f'--comment "{RULE_COMMENT}"' in line:
                run(["iptables", "-w", *_delete_args(line)], netns)
                removed += 1
    return removed


def _delete_args(rule: str) -> list[str]:
    """``-A CHAIN spec...`` as printed by ``iptables -S`` → ``-D CHAIN spec...``."""
    parts = rule.split()
    return ["-D", *parts[1:]]


def impairer_argv(spec: NetemSpec, queue_num: int, seed: int | None = None) -> list[str]:
    """The command running the userspace impairer on ``queue_num`` (this interpreter)."""
    argv = [sys.executable, "-m", "impair.nfqueue", "--queue-num", str(queue_num)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return [*argv, spec.to_tc_args()]


class NamespaceImpairment:
    """netem's effect on the UDP traffic of namespace ``netns`` without netem.

    Plain random loss is an iptables ``statistic`` rule; correlated or bursty loss and
    everything else run in a userspace impairer per chain (NFQUEUE ``queue_num``,
    ``queue_num + 1``), each with its own model, as netem on each interface would.
    ``direction`` ``in`` impairs what arrives in the namespace, ``out`` what leaves it.
    Use as a context manager; :meth:`stop` removes the rules and returns the impairers' stats.
    """

    def __init__(self, netns: str, spec: NetemSpec, direction: str = "in", queue_num: int = 1,
                 seed: int | None = None) -> None:
        if direction not in CHAINS:
            raise ValueError(f"direction must be one of {', '.join(CHAINS)} (got {direction!r})")
        self.netns, self.spec, self.chains = check_name(netns), spec, CHAINS[direction]
        self.queue_num, self.seed = queue_num, seed
        self.iptables_loss = spec.loss if spec.loss and not spec.loss_correlation else 0.0
        rest = replace(spec, loss=0.0) if self.iptables_loss else spec
        self.userspace = None if rest == NetemSpec(limit=spec.limit, seed=spec.seed) else rest
        self._impairers: list[subprocess.Popen] = []

    def start(self) -> "NamespaceImpairment":
        """Install the rules and start the impairers (ready when this returns)."""
        try:
            for i, chain in enumerate(self.chains):
                if self.userspace is not None:
                    self._start_impairer(self.queue_num + i, None if self.seed is None else self.seed + i)
                    add_queue_rule(self.netns, chain, self.queue_num + i)
                if self.iptables_loss:
                    add_loss_rule(self.netns, chain, self.iptables_loss)
        except (NetnsError, OSError):
            self.stop()
            raise
        return self

    def _start_impairer(self, queue_num: int, seed: int | None) -> None:
        process = subprocess.Popen(["ip", "netns", "exec", self.netns,
                                    *impairer_argv(self.userspace, queue_num, seed)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._impairers.append(process)
        line = process.stdout.readline().strip()  # "ready" once the queue is bound
        if line != "ready":
            process.wait(10)
            raise NetnsError(f"the NFQUEUE impairer did not start: {process.stderr.read().strip() or line}")

    def stop(self) -> list[dict]:
        """Remove the rules, stop the impairers; return their stats (one dict per impairer)."""
        clear_rules(self.netns)
        stats = []
        for process in self._impairers:
            if process.poll() is None:
                process.terminate()
            try:
                out, _ = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            lines = out.strip().splitlines()
            if lines:
                try:
                    stats.append(json.loads(lines[-1]))
                except ValueError:
                    pass
        self._impairers.clear()
        return stats

    def __enter__(self) -> "NamespaceImpairment":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
