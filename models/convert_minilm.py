#!/usr/bin/env python3
"""Converts sentence-transformers all-MiniLM-L6-v2 (safetensors weights) to one ONNX graph.

Needs numpy, onnx and safetensors only (no torch). The graph takes `input_ids`,
`attention_mask` and `token_type_ids` (int64, [batch, seq]) and returns `sentence_embedding`
([batch, 384], float32): the BERT encoder, mean pooling over the attention mask and L2
normalisation — exactly the three modules of the sentence-transformers model.

    convert_minilm.py WEIGHTS.safetensors CONFIG.json OUT.onnx   # convert
    convert_minilm.py --selftest WEIGHTS.safetensors OUT.onnx     # compare with numpy

`--selftest` runs the converted graph with onnxruntime on random token batches (with padding)
and compares it with an independent numpy forward pass written from the BERT definition; it
exits 1 if any output differs by more than 1e-4.
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file

OPSET = 17


def build(weights_path, config_path, out_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = json.load(open(config_path))
    w = load_file(weights_path)
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = cfg["layer_norm_eps"]
    layers = cfg["num_hidden_layers"]
    if cfg.get("hidden_act") != "gelu":
        sys.exit(f"{config_path}: hidden_act {cfg.get('hidden_act')!r} is not supported")

    inits = []
    nodes = []
    counter = [0]

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op, inputs, **attrs):
        counter[0] += 1
        out = f"{op.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def weight(key):
        return const(key, w[key].astype(np.float32))

    def linear(x, prefix):
        # PyTorch Linear stores [out, in]; MatMul wants [in, out].
        wt = const(prefix + ".weight.T", np.ascontiguousarray(w[prefix + ".weight"].T))
        return node("Add", [node("MatMul", [x, wt]), weight(prefix + ".bias")])

    def layer_norm(x, prefix):
        return node(
            "LayerNormalization",
            [x, weight(prefix + ".weight"), weight(prefix + ".bias")],
            axis=-1,
            epsilon=eps,
        )

    # Embeddings.
    word = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"])
    seq_len = node(
        "Gather", [node("Shape", ["input_ids"]), const("one_i64", np.array(1, np.int64))], axis=0
    )
    positions = node(
        "Range",
        [const("zero_i64", np.array(0, np.int64)), seq_len, "one_i64"],
    )
    pos = node("Gather", [weight("embeddings.position_embeddings.weight"), positions])
    tok = node("Gather", [weight("embeddings.token_type_embeddings.weight"), "token_type_ids"])
    x = layer_norm(node("Add", [node("Add", [word, pos]), tok]), "embeddings.LayerNorm")

    # Additive attention mask [batch, 1, 1, seq]: 0 for tokens, -1e4 for padding.
    mask_f = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    mask_4d = node("Unsqueeze", [mask_f, const("axes_1_2", np.array([1, 2], np.int64))])
    mask_bias = node(
        "Mul",
        [
            node("Sub", [const("one_f", np.array(1.0, np.float32)), mask_4d]),
            const("neg_big", np.array(-10000.0, np.float32)),
        ],
    )
    split_shape = const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    half = const("half", np.array(0.5, np.float32))
    sqrt2 = const("sqrt2", np.array(math.sqrt(2.0), np.float32))

    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = node("Transpose", [node("Reshape", [linear(x, p + ".attention.self.query"), split_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + ".attention.self.key"), split_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, p + ".attention.self.value"), split_shape])], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), mask_bias])
        probs = node("Softmax", [scores], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(node("Add", [linear(ctx, p + ".attention.output.dense"), x]), p + ".attention.output.LayerNorm")
        h = linear(x, p + ".intermediate.dense")
        gelu = node("Mul", [node("Mul", [h, half]), node("Add", [const(f"one_f_{i}", np.array(1.0, np.float32)), node("Erf", [node("Div", [h, sqrt2])])])])
        x = layer_norm(node("Add", [linear(gelu, p + ".output.dense"), x]), p + ".output.LayerNorm")

    # Mean pooling over real tokens, then L2 normalisation.
    mask_3d = node("Unsqueeze", [mask_f, const("axes_2", np.array([2], np.int64))])
    axis1 = const("axes_seq", np.array([1], np.int64))
    summed = node("ReduceSum", [node("Mul", [x, mask_3d]), axis1], keepdims=0)
    count = node("Clip", [node("ReduceSum", [mask_3d, axis1], keepdims=0), const("tiny", np.array(1e-9, np.float32))])
    mean = node("Div", [summed, count])
    norm = node(
        "Clip",
        [node("Sqrt", [node("ReduceSum", [node("Mul", [mean, mean]), axis1], keepdims=1)]), const("tiny12", np.array(1e-12, np.float32))],
    )
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

    int_input = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [int_input("input_ids"), int_input("attention_mask"), int_input("token_type_ids")],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ballotwatch convert_minilm.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


def numpy_forward(w, ids, mask, types, heads=12, eps=1e-12):
    """Reference forward pass written directly from the BERT + mean-pool definition."""

    def ln(x, prefix):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[prefix + ".weight"] + w[prefix + ".bias"]

    def lin(x, prefix):
        return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]

    def erf(x):
        return np.vectorize(math.erf)(x).astype(np.float64)

    b, s = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:s][None] + w["embeddings.token_type_embeddings.weight"][types]
    x = ln(x.astype(np.float64), "embeddings.LayerNorm")
    hidden = x.shape[-1]
    d = hidden // heads
    bias = (1.0 - mask[:, None, None, :].astype(np.float64)) * -10000.0
    layer = 0
    while f"encoder.layer.{layer}.attention.self.query.weight" in w:
        p = f"encoder.layer.{layer}"
        split = lambda t: t.reshape(b, s, heads, d).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(x, p + f".attention.self.{n}")) for n in ("query", "key", "value"))
        sc = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        pr = sc / sc.sum(-1, keepdims=True)
        ctx = (pr @ v).transpose(0, 2, 1, 3).reshape(b, s, hidden)
        x = ln(lin(ctx, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
        h = lin(x, p + ".intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = ln(lin(h, p + ".output.dense") + x, p + ".output.LayerNorm")
        layer += 1
    m = mask[:, :, None].astype(np.float64)
    mean = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def selftest(weights_path, onnx_path):
    import onnxruntime as ort

    w = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in load_file(weights_path).items()}
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    worst = 0.0
    for batch, seq in ((1, 5), (3, 17), (2, 64)):
        ids = rng.integers(1000, 30000, size=(batch, seq), dtype=np.int64)
        ids[:, 0] = 101  # [CLS]
        mask = np.ones((batch, seq), np.int64)
        for row in range(1, batch):  # later rows are padded
            keep = max(2, seq - 3 * row)
            mask[row, keep:] = 0
            ids[row, keep:] = 0
        types = np.zeros((batch, seq), np.int64)
        got = sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        want = numpy_forward(w, ids, mask, types)
        worst = max(worst, float(np.abs(got - want).max()))
    print(f"selftest: max |onnx - numpy| = {worst:.2e} over 3 batches")
    if not worst < 1e-4:
        sys.exit("selftest FAILED: the converted graph does not match the numpy forward pass")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--selftest":
        selftest(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4:
        build(sys.argv[1], sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
