"""File names of the shipped code predictor (shared by its trainer and its runtime)."""

PREDICTOR_ONNX = "focal_predictor.onnx"
PREDICTOR_META = "focal_predictor.json"
