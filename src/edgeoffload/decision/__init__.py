"""The decision engine: task and context features, the cost model, estimators, policies
and the registry that names them (pure: numpy, and onnxruntime for large batches);
training (:mod:`.train`) and the DROO benchmark (:mod:`.droo`) sit on top, outside the
pure base (pyproject.toml's import contracts)."""
