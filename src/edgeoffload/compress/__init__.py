"""Model compression: INT8 quantization, pruning, distillation, and their measurement.

| module | needs | holds |
|---|---|---|
| ``data`` | numpy | data files (``.npz`` with ``x``, ``y``), the digits dataset |
| ``graph`` | onnx | load, check and save ONNX files |
| ``quantize`` | onnxruntime | dynamic and static (QDQ) INT8 |
| ``units`` | onnx | the prunable structure of a graph (layer pairs), cutting it |
| ``prune`` | onnx | structured and unstructured pruning by graph surgery |
| ``reconstruct`` | onnxruntime | data-aware channel choice and layer refit for pruning |
| ``measure`` / ``report`` | onnxruntime / numpy | size, latency, accuracy; tables |
| ``arch`` | - | student specs (``mlp:256,128``, ``cnn:8,16/32``) |
| ``training``, ``distill``, ``zoo`` | torch | training, export, distillation, bundled models |

Importing this package imports nothing heavy; each module imports what it needs.
"""
