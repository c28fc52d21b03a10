"""``focalcall netem`` without touching any interface: dry runs, errors, and how a specification
is split between iptables and the userspace impairer."""
import pytest

from focalcall.cli import UserError, build_parser, main
from impair.netns import NamespaceImpairment, VethNamespace, check_name
from transport.netem import parse_netem


def run(capsys, *argv: str) -> str:
    args = build_parser().parse_args(argv)
    assert args.func(args) == 0
    return capsys.readouterr().out.strip()


def test_apply_dry_run_prints_the_transport_models_tc_command(capsys):
    spec = "loss 10% delay 40ms 20ms"
    out = run(capsys, "netem", "apply", "--iface", "eth0", "--dry-run", spec)
    assert out == parse_netem(spec).to_tc_command("eth0")
    assert out == "tc qdisc replace dev eth0 root netem delay 40ms 20ms loss random 10%"


def test_clear_dry_runs(capsys):
    assert run(capsys, "netem", "clear", "--iface", "veth0", "--dry-run") == "tc qdisc del dev veth0 root"
    assert "namespace fc-x" in run(capsys, "netem", "clear", "--netns", "fc-x", "--dry-run")


@pytest.mark.parametrize("argv, message", [
    (("apply", "--iface", "eth0", "--dry-run", "loss 10% delay"), "bad netem specification: 'delay' needs a time"),
    (("apply", "--iface", "eth0", "--dry-run", "wobble 3"), "unknown netem option 'wobble'"),
    (("fallback", "--netns", "x", "reorder 5%"), "reorder needs a delay"),
])
def test_bad_specifications_are_user_errors(capsys, argv, message):
    with pytest.raises(UserError, match=message):
        run(capsys, "netem", *argv)


def test_errors_are_one_line_through_the_focalcall_command(capsys):
    assert main(["netem", "apply", "--iface", "eth0", "--dry-run", "loss 200%"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("focalcall netem: error: bad netem specification") and err.count("\n") == 1


@pytest.mark.parametrize("name", ["eth0; rm -rf /", "", "a" * 16, "../x"])
def test_unsafe_names_are_rejected(capsys, name):
    with pytest.raises(ValueError, match="invalid"):
        run(capsys, "netem", "apply", "--iface", name, "--dry-run", "loss 1%")
    with pytest.raises(ValueError, match="invalid"):
        check_name(name)


@pytest.mark.parametrize("spec, iptables_loss, userspace", [
    ("loss 10%", 0.1, None),
    ("loss 10% delay 40ms 20ms", 0.1, "delay 40ms 20ms"),
    ("delay 40ms 20ms", 0.0, "delay 40ms 20ms"),
    ("loss 10% 25%", 0.0, "loss random 10% 25%"),  # correlated: iptables can't, the model can
    ("loss gemodel 5% 20%", 0.0, "loss gemodel 5% 20% 100% 0%"),
    ("loss 5% rate 256kbit", 0.05, "rate 256kbit"),
])
def test_specification_split_between_iptables_and_the_impairer(spec, iptables_loss, userspace):
    impairment = NamespaceImpairment("fc-x", parse_netem(spec), direction="both")
    assert impairment.iptables_loss == iptables_loss
    assert (impairment.userspace.to_tc_args() if impairment.userspace else None) == userspace
    assert impairment.chains == ("INPUT", "OUTPUT")


def test_bad_namespace_arguments():
    with pytest.raises(ValueError, match="direction"):
        NamespaceImpairment("fc-x", parse_netem("loss 1%"), direction="sideways")
    with pytest.raises(ValueError, match="distinct addresses"):
        VethNamespace("fc-x", "10.1.0.1", "10.2.0.2")
