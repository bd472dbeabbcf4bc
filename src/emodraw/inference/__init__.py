"""Prediction from trained models: the Classifier (PyTorch checkpoints and ONNX exports), the ONNX runtime,
evaluation on labelled data and streaming prediction."""
