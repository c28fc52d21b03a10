"""Which metric names exist and where each lives (light: building the CLI imports it)."""

# metric name -> (module, class); each class has ``columns`` and ``score(ref, deg, clip)``.
METRICS = {
    "pesq": ("codec.evaluation.intrusive", "Pesq"),
    "stoi": ("codec.evaluation.intrusive", "Stoi"),
    "dnsmos": ("codec.evaluation.mos", "DnsMos"),
    "distillmos": ("codec.evaluation.mos", "DistillMos"),
    "plcmos": ("codec.evaluation.plcmos", "PlcMos"),
    "speaker": ("codec.evaluation.speaker", "SpeakerSimilarity"),
    "wer": ("codec.evaluation.wer", "WordErrorRate"),
}
