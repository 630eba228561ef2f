"""The tolerances of the numeric tests, each with the reason float32 needs it.

float32 rounds every operation to 2**-24 (6e-8) of its result. Two computations of the same function agree to the
last bit only when they perform the same operations in the same order. Another implementation (transformers, ONNX
Runtime), another kernel path (AVX2 or AVX-512, ``ATEN_CPU_CAPABILITY=default``, ``MKL_CBWR``), another thread count
or another padded length (another blocking of the matrix products) reorders the sums, and a dot product of n terms
of size m may then move by about n * 6e-8 * m. Each figure below says what was seen across those paths.

A test that compares values computed in the same order (the same code on the same inputs, in one process) can be
exact; the tolerances here are for what is not. Pure float64 arithmetic on crafted numbers uses pytest.approx's
default (1e-6 relative) and needs no entry.
"""

# A BERT forward pass (hidden states, attentions, head outputs of order 1) computed in another order: another
# implementation, kernel path, thread count or padding. Seen: up to 6e-6 (the shipped models' answers under
# ATEN_CPU_CAPABILITY=default against AVX-512). A real error (a wrong mask, scale or weight) moves values by 1e-3 or
# more.
REORDERED = 1e-5
# ONNX Runtime's own fused kernels (LayerNorm, GELU, attention) against minBERT, both in float32 over three layers.
# Seen: up to 1.5e-5; a wrongly transposed or named weight moves the output by 1e-1.
ONNX_RUNTIME = 1e-4
# The same operations in the same order (a resumed run against an uninterrupted one, metrics recomputed from a
# shipped checkpoint): equal bit for bit in practice; the margin only absorbs a float32 round trip.
SAME_ORDER = 1e-6
# Weights after the same steps with each batch's gradient summed over two processes instead of one: the all-reduce
# adds the shards in another order at every step, and the optimizer carries the difference on.
TWO_PROCESSES = 1e-5
# float16 storage of the weights rounds each one to 2**-11 (5e-4) relative: predictions of order 1 move by ~1e-3.
FLOAT16_WEIGHTS = 2e-3
# A sum of float32 probabilities (five classes, each rounded to 6e-8) against 1, after a trip through JSON.
PROBABILITY_SUM = 1e-5
