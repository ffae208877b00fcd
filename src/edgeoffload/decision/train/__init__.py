"""Training the decision engine's models: the learned policies (:mod:`.policy`) and the
bandwidth predictor (:mod:`.predictor`).

Outside the pure base on purpose: these modules drive torch, scikit-learn and skl2onnx
(the ``train`` extra, imported inside the functions); nothing that decides imports
them, and the import contracts in pyproject.toml keep it so. What they produce is a
model folder (:mod:`edgeoffload.decision.modelfile`) that the pure modules read with
numpy (and onnxruntime for large batches).
"""
