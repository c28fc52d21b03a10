"""``focalcall netem``: impair a link for testing, with the transport's netem specification strings.

``apply``/``clear`` wrap ``tc qdisc ... netem`` on an interface (real hosts, or a container
with NET_ADMIN). Where the kernel has no netem, ``apply`` says so and names the fallback:
``fallback --netns NS`` impairs a namespace's UDP traffic with iptables (random loss) and the
NFQUEUE userspace impairer (delay, jitter, reorder, bursty loss...), until interrupted.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import threading

from focalcall.cli import UserError
from impair.netns import CHAINS, NamespaceImpairment, NetnsError, check_name, clear_rules
from transport.netem import NetemSpecError, parse_netem

NO_NETEM = "Specified qdisc kind is unknown"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``netem apply|clear|fallback``."""
    p = subparsers.add_parser("netem", help="inject loss, delay and jitter (tc netem, or a namespace fallback)",
                              description="Impair the network the way tc netem does, with netem's option "
                                          "syntax, e.g. \"loss 10%% delay 40ms 20ms\".")
    sub = p.add_subparsers(dest="netem_command", metavar="ACTION", required=True)

    a = sub.add_parser("apply", help="tc qdisc replace dev IF root netem SPEC")
    a.add_argument("--iface", required=True, help="interface to impair (its egress traffic)")
    a.add_argument("--dry-run", action="store_true", help="print the tc command instead of running it")
    a.add_argument("spec", help='netem options, e.g. "loss 10%% delay 40ms 20ms"')
    a.set_defaults(func=apply)

    c = sub.add_parser("clear", help="remove netem from an interface, or the fallback's rules from a namespace")
    target = c.add_mutually_exclusive_group(required=True)
    target.add_argument("--iface", help="interface whose root qdisc to delete")
    target.add_argument("--netns", help="namespace whose focalcall iptables rules to delete")
    c.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    c.set_defaults(func=clear)

    f = sub.add_parser("fallback", help="impair a network namespace's UDP without netem (until Ctrl-C)")
    f.add_argument("--netns", required=True, help="network namespace to impair (create it with `ip netns add`)")
    f.add_argument("--direction", choices=sorted(CHAINS), default="in",
                   help="traffic arriving in the namespace (in, default), leaving it (out) or both")
    f.add_argument("--queue-num", type=int, default=1, help="first NFQUEUE number to use (default 1)")
    f.add_argument("--seed", type=int, default=None, help="random seed of the userspace impairer")
    f.add_argument("spec", help='netem options, e.g. "loss 10%% delay 40ms 20ms"')
    f.set_defaults(func=fallback)


def _spec(text: str):
    try:
        return parse_netem(text)
    except NetemSpecError as exc:
        raise UserError(f"bad netem specification: {exc}") from None


def _run_tc(command: str) -> str | None:
    """Run a ``tc`` command line; its error message, or ``None`` when it succeeded."""
    done = subprocess.run(command.split(), capture_output=True, text=True)
    return done.stderr.strip() if done.returncode != 0 else None


def apply(args: argparse.Namespace) -> int:
    """Put netem on the interface; explain the fallback where the kernel has none."""
    command = _spec(args.spec).to_tc_command(check_name(args.iface, "interface"))
    if args.dry_run:
        print(command)
        return 0
    error = _run_tc(command)
    if error is not None:
        if NO_NETEM in error:
            raise UserError(
                f"this kernel has no netem ({command!r}: {error}). Fallback for network namespaces: "
                f"focalcall netem fallback --netns NS \"{args.spec}\" (loss through iptables statistic, "
                "delay and jitter through an NFQUEUE userspace impairer)")
        raise UserError(f"{command!r} failed: {error}")
    print(f"netem on {args.iface}: {command.split(' netem ', 1)[1] if ' netem ' in command else 'no impairment'}")
    return 0


def clear(args: argparse.Namespace) -> int:
    """Remove netem from the interface, or the fallback's rules from the namespace."""
    if args.netns is not None:
        netns = check_name(args.netns)
        if args.dry_run:
            print(f"delete iptables rules commented focalcall-netem in namespace {netns}")
            return 0
        try:
            removed = clear_rules(netns)
        except NetnsError as exc:
            raise UserError(str(exc)) from None
        print(f"removed {removed} rule(s) from namespace {netns}")
        return 0
    command = f"tc qdisc del dev {check_name(args.iface, 'interface')} root"
    if args.dry_run:
        print(command)
        return 0
    error = _run_tc(command)
    if error is not None:
        if "handle of zero" in error or "No such file or directory" in error:
            print(f"{args.iface} had no qdisc to remove")  # already clear: not an error
            return 0
        raise UserError(f"{command!r} failed: {error}")
    print(f"cleared {args.iface}")
    return 0


def fallback(args: argparse.Namespace) -> int:
    """Impair the namespace until SIGINT/SIGTERM, then remove the rules and print what was done."""
    spec = _spec(args.spec)
    impairment = NamespaceImpairment(args.netns, spec, args.direction, args.queue_num, args.seed)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        impairment.start()
    except NetnsError as exc:
        raise UserError(str(exc)) from None
    parts = []
    if impairment.iptables_loss:
        parts.append(f"iptables loss {impairment.iptables_loss:.4g}")
    if impairment.userspace is not None:
        parts.append(f"NFQUEUE impairer '{impairment.userspace.to_tc_args()}'")
    print(f"impairing UDP {args.direction} namespace {args.netns}: {' + '.join(parts) or 'nothing'}; "
          "Ctrl-C to stop", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        for stats in impairment.stop():
            print(f"impairer: {stats}")
    return 0

