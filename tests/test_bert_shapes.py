"""BERT shapes: parameter and MAC counts against hand-derived closed forms and field notes."""

import pytest

from circuitxbar.errors import ValidationError
from circuitxbar.workloads.bert import (
    BERT_BASE,
    BERT_LARGE,
    BertConfig,
    MatmulOp,
    bert_config,
    bias_and_norm_count,
    embedding_count,
    layer_ops,
    model_macs,
    weight_count,
    ws_input_elements,
)


def test_presets_have_the_published_shapes():
    def shape(c):
        return c.layers, c.hidden, c.heads, c.ffn

    assert shape(BERT_BASE) == (12, 768, 12, 3072)
    assert shape(BERT_LARGE) == (24, 1024, 16, 4096)
    assert BERT_BASE.head_dim == BERT_LARGE.head_dim == 64


def test_bert_large_layer_is_1_64_gmac_at_128_tokens():
    # field note: 1.64 GMAC per BERT-Large layer at L = 128
    L, d, h, dk, f = 128, 1024, 16, 64, 4096
    closed = 4 * L * d * d + 2 * L * d * f + 2 * h * L * L * dk + h * L * L + 4 * L * d
    assert model_macs(BERT_LARGE, 128) == 24 * closed
    assert model_macs(BERT_LARGE, 128) / 24 == pytest.approx(1.64e9, rel=0.005)


def test_weight_counts_and_the_papers_77_3_g_operations():
    assert weight_count(BERT_LARGE) == 24 * (4 * 1024**2 + 2 * 1024 * 4096) == 301_989_888
    assert weight_count(BERT_BASE) == 84_934_656
    # "77.3 G operations" for BERT-Large at 256 tokens = weights x tokens
    assert model_macs(BERT_LARGE, 256, "WS") == 256 * weight_count(BERT_LARGE)
    assert model_macs(BERT_LARGE, 256, "WS") / 1e9 == pytest.approx(77.3, abs=0.05)
    # the whole published model: ~110 M and ~340 M parameters
    for cfg, total in ((BERT_BASE, 110e6), (BERT_LARGE, 335e6)):
        n = weight_count(cfg) + bias_and_norm_count(cfg) + embedding_count(cfg)
        assert n == pytest.approx(total, rel=0.02)


def test_ops_split_into_ws_and_nw_as_the_paper_classes_them():
    ops = {op.name: op for op in layer_ops(BERT_LARGE, 256)}
    assert {n for n, op in ops.items() if op.kind == "WS"} == {
        "q_proj", "k_proj", "v_proj", "out_proj", "ffn_in", "ffn_out"}
    assert sum(op.weights for op in ops.values()) * 24 == weight_count(BERT_LARGE)
    assert ops["scores"].macs == 16 * 256 * 64 * 256
    assert ops["context"].macs == 16 * 256 * 256 * 64
    assert ops["scores"].function == "exp"
    assert model_macs(BERT_LARGE, 256) == model_macs(BERT_LARGE, 256, "WS") + model_macs(
        BERT_LARGE, 256, "NW")


def test_ws_input_elements_counts_each_input_once():
    assert ws_input_elements(BERT_LARGE, 256) == 24 * 256 * (3 * 1024 + 4096)


def test_bad_shapes_are_refused_with_the_fix():
    with pytest.raises(ValidationError, match="bert-base, bert-large"):
        bert_config("bert-huge")
    assert bert_config("BERT_LARGE") is BERT_LARGE
    with pytest.raises(ValidationError, match="at most 512"):
        layer_ops(BERT_BASE, 600)
    with pytest.raises(ValidationError, match="multiple of heads"):
        BertConfig("odd", 2, 100, 3, 400)
    with pytest.raises(ValidationError, match="kind"):
        MatmulOp("x", "XX", 1, 1, 1, 1)
    with pytest.raises(ValidationError, match="positive integer"):
        model_macs(BERT_BASE, 0)
