"""Results as a comparison table (terminal and Markdown) and as JSON."""
from __future__ import annotations

import json
from pathlib import Path

# column key -> (header, format); absent or None values print as "-".
COLUMNS = (
    ("payload_kbps", "kbit/s", "{:.2f}"),
    ("algorithmic_latency_ms", "latency ms", "{:.1f}"),
    ("pesq_wb", "PESQ-WB", "{:.2f}"),
    ("pesq_nb", "PESQ-NB", "{:.2f}"),
    ("stoi", "STOI", "{:.3f}"),
    ("dnsmos", "DNSMOS", "{:.2f}"),
    ("distillmos", "DistillMOS", "{:.2f}"),
    ("plcmos", "PLCMOS", "{:.2f}"),
    ("speaker_sim", "spk sim", "{:.3f}"),
    ("wer_pct", "WER %", "{:.1f}"),
    ("rtf_encode", "RTF enc", "{:.4f}"),
    ("rtf_decode", "RTF dec", "{:.4f}"),
)


def _rows(results: dict) -> list[tuple[str, dict]]:
    rows = []
    if "reference" in results:
        rows.append(("reference (clean)", _flat(results["reference"]["mean"])))
    for name, codec in results["codecs"].items():
        values = _flat(codec["mean"])
        values.update(payload_kbps=codec["payload_bitrate"] / 1000.0,
                      algorithmic_latency_ms=codec["algorithmic_latency_ms"],
                      rtf_encode=codec["rtf_encode"], rtf_decode=codec["rtf_decode"])
        rows.append((name, values))
    return rows


def _flat(mean: dict) -> dict:
    values = dict(mean)
    if values.get("wer") is not None:
        values["wer_pct"] = 100.0 * values["wer"]
    return values


def _cells(results: dict) -> tuple[list[str], list[list[str]]]:
    shown = [c for c in COLUMNS if any(v.get(c[0]) is not None for _, v in _rows(results))]
    header = ["codec"] + [h for _, h, _ in shown]
    body = [[name] + [fmt.format(v[key]) if v.get(key) is not None else "-" for key, _, fmt in shown]
            for name, v in _rows(results)]
    return header, body


def table(results: dict) -> str:
    """A plain-text table for the terminal."""
    header, body = _cells(results)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body])


def markdown(results: dict) -> str:
    """The same table in Markdown."""
    header, body = _cells(results)
    rows = [header, ["---"] + ["---:"] * (len(header) - 1)] + body
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def by_language(results: dict, columns=(("stoi", "STOI", "{:.3f}"), ("pesq_nb", "PESQ-NB", "{:.2f}"),
                                          ("dnsmos", "DNSMOS", "{:.2f}"))) -> str:
    """Markdown table of a few metrics per codec and clip language (en: Asterisk, cs/nl: Fillets)."""
    languages = sorted({row["language"] for c in results["codecs"].values() for row in c["clips"]},
                       key=lambda lang: (lang != "en", lang))
    counts = {lang: sum(r["language"] == lang for r in next(iter(results["codecs"].values()))["clips"])
              for lang in languages}
    header = ["codec"] + [f"{title} {lang} ({counts[lang]})" for _, title, _ in columns for lang in languages]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    for name, codec in results["codecs"].items():
        cells = [name]
        for key, _, fmt in columns:
            for lang in languages:
                values = [r[key] for r in codec["clips"] if r["language"] == lang and r.get(key) is not None]
                cells.append(fmt.format(sum(values) / len(values)) if values else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def loop_retries(results: dict) -> str:
    """One sentence: on how many clips per codec Whisper looped and transcribed again."""
    clips = {name: codec["clips"] for name, codec in results["codecs"].items()}
    if "reference" in results:
        clips["reference (clean)"] = results["reference"]["clips"]
    counts = {name: sum(bool(r.get("asr_loop_retry")) for r in rows) for name, rows in clips.items()}
    looped = [f"{name} {n}" for name, n in counts.items() if n]
    if not looped:
        return "Whisper looped on no clip of any codec."
    return f"Clips Whisper looped on and transcribed again: {', '.join(looped)}; none for the others."


def write_json(results: dict, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
