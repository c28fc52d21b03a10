"""Evaluation: run codecs over the dev set through their streaming interface and score them."""
