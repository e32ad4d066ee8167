"""BERT model shapes and the per-layer list of matrix products, in the paper's terms.

Every operation of a transformer layer is written as the paper's standardized sub-operation
``F(X . Y)`` (Eq. 3, Tables 1-4): a matrix product whose second operand ``Y`` is either a
stored weight (weight-stationary, ``"WS"``) or an intermediate result (non-weight-stationary,
``"NW"``), followed by an element-wise function ``F`` done in a digital unit.

A :class:`MatmulOp` describes ``count`` independent products ``X (rows x inner) . Y (inner x
cols)``; ``rows`` is the number of rows of ``X`` streamed through the array (tokens), ``inner``
the reduction length and ``cols`` the number of output columns (one *session* each in the
paper's dataflow, Eq. 4). Softmax is split into EXP (fused into Q.K^T), the row sum (a product
with a ones vector) and the division (fused into EXP(S).V); LayerNorm into E(u) = U.1 and
E(u^2) = row_t(U).row_t(U)^T per token (Table 4). Biases, the residual additions, the square
root and the division of LayerNorm live in ``F`` and cost no MACs.

Everything here is shape arithmetic on integers; nothing depends on a hardware model, so a
circuit-level study can map the same list onto arrays.
"""

from __future__ import annotations

import dataclasses

from circuitxbar.errors import ValidationError

KINDS = ("WS", "NW")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The shape of one BERT encoder.

    Parameters
    ----------
    name : str
        Preset name, e.g. ``"bert-large"``.
    layers : int
        Number of encoder layers.
    hidden : int
        Hidden size ``d`` (model width).
    heads : int
        Attention heads; ``hidden`` must be a multiple of it.
    ffn : int
        Inner size of the feed-forward block.
    vocab : int
        Word-piece vocabulary size (embedding rows).
    max_position : int
        Rows of the learned position embedding (the longest sequence the model accepts).
    type_vocab : int
        Rows of the token-type (segment) embedding.
    """

    name: str
    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int = 30522
    max_position: int = 512
    type_vocab: int = 2

    def __post_init__(self):
        for field in ("layers", "hidden", "heads", "ffn", "vocab", "max_position", "type_vocab"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(
                    f"BertConfig.{field} = {value!r} must be a positive integer"
                )
        if self.hidden % self.heads:
            raise ValidationError(
                f"BertConfig.hidden = {self.hidden} is not a multiple of heads = {self.heads}; "
                f"choose heads that divide the hidden size"
            )

    @property
    def head_dim(self):
        """Per-head width ``d_k = hidden / heads``."""
        return self.hidden // self.heads

    def to_dict(self):
        """JSON-ready dict; ``BertConfig(**d)`` inverts it."""
        return dataclasses.asdict(self)


BERT_BASE = BertConfig("bert-base", layers=12, hidden=768, heads=12, ffn=3072)
BERT_LARGE = BertConfig("bert-large", layers=24, hidden=1024, heads=16, ffn=4096)
BERT_MODELS = {c.name: c for c in (BERT_BASE, BERT_LARGE)}


def bert_config(name):
    """The preset called ``name`` (``"bert-base"`` or ``"bert-large"``)."""
    key = str(name).lower().replace("_", "-")
    if key not in BERT_MODELS:
        raise ValidationError(
            f"unknown BERT model {name!r}; valid names are {', '.join(BERT_MODELS)}"
        )
    return BERT_MODELS[key]


@dataclasses.dataclass(frozen=True)
class MatmulOp:
    """``count`` products ``X (rows x inner) . Y (inner x cols)`` followed by ``F``.

    Parameters
    ----------
    name : str
        Short identifier, unique within a layer.
    kind : str
        ``"WS"`` when ``Y`` is a stored weight, ``"NW"`` when it is an intermediate result.
    count : int
        Independent instances (attention heads, or tokens for per-token LayerNorm products).
    rows, inner, cols : int
        Shapes of one instance, see the module docstring.
    function : str
        The element-wise ``F`` applied to the result (paper's Tables 2-4).
    input_tensor : str
        Name of ``X``; products that read the same ``X`` (Q, K and V) share it.
    """

    name: str
    kind: str
    count: int
    rows: int
    inner: int
    cols: int
    function: str = "none"
    input_tensor: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValidationError(
                f"MatmulOp {self.name!r}: kind = {self.kind!r}; valid kinds are {', '.join(KINDS)}"
            )
        for field in ("count", "rows", "inner", "cols"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(
                    f"MatmulOp {self.name!r}: {field} = {value!r} must be a positive integer"
                )

    @property
    def macs(self):
        """Multiply-accumulates of all instances."""
        return self.count * self.rows * self.inner * self.cols

    @property
    def operand_elements(self):
        """Elements of the second operand ``Y`` over all instances (weights for WS products)."""
        return self.count * self.inner * self.cols

    @property
    def weights(self):
        """Stored weights this product needs: ``operand_elements`` for WS, 0 for NW."""
        return self.operand_elements if self.kind == "WS" else 0

    @property
    def input_elements(self):
        """Elements of ``X`` over all instances."""
        return self.count * self.rows * self.inner

    @property
    def output_elements(self):
        """Elements of the result over all instances."""
        return self.count * self.rows * self.cols


def _check_seq_len(config, seq_len):
    if not isinstance(seq_len, int) or isinstance(seq_len, bool) or seq_len < 1:
        raise ValidationError(f"seq_len = {seq_len!r} must be a positive integer (tokens)")
    if seq_len > config.max_position:
        raise ValidationError(
            f"seq_len = {seq_len} exceeds {config.name}'s {config.max_position} positions; "
            f"use at most {config.max_position} tokens"
        )


def layer_ops(config, seq_len):
    """The matrix products of one encoder layer at ``seq_len`` tokens, in execution order.

    Returns
    -------
    tuple of MatmulOp
        Component A (Table 2 and Table 4): Q, K/sqrt(d_k), V, EXP(Q.K^T), row sum, softmax.V,
        output projection (+x), LayerNorm moments; component B (Table 3): FFN in (F = GELU;
        the paper writes ReLU), FFN out (+x), LayerNorm moments.
    """
    _check_seq_len(config, seq_len)
    L, d, h, dk, f = seq_len, config.hidden, config.heads, config.head_dim, config.ffn
    return (
        MatmulOp("q_proj", "WS", 1, L, d, d, "none", "x"),
        MatmulOp("k_proj", "WS", 1, L, d, d, "scale 1/sqrt(dk)", "x"),
        MatmulOp("v_proj", "WS", 1, L, d, d, "none", "x"),
        MatmulOp("scores", "NW", h, L, dk, L, "exp", "q"),
        MatmulOp("row_sum", "NW", h, L, L, 1, "none", "exp_scores"),
        MatmulOp("context", "NW", h, L, L, dk, "divide by row sum", "exp_scores"),
        MatmulOp("out_proj", "WS", 1, L, d, d, "+x", "context"),
        MatmulOp("ln1_mean", "NW", 1, L, d, 1, "x 1/d", "attn_sum"),
        MatmulOp("ln1_square", "NW", L, 1, d, 1, "x 1/d", "attn_sum"),
        MatmulOp("ffn_in", "WS", 1, L, d, f, "gelu", "attn_out"),
        MatmulOp("ffn_out", "WS", 1, L, f, d, "+x", "ffn_hidden"),
        MatmulOp("ln2_mean", "NW", 1, L, d, 1, "x 1/d", "ffn_sum"),
        MatmulOp("ln2_square", "NW", L, 1, d, 1, "x 1/d", "ffn_sum"),
    )


def model_macs(config, seq_len, kind=None):
    """Multiply-accumulates of the whole encoder (all layers) at ``seq_len`` tokens.

    ``kind`` = ``"WS"`` or ``"NW"`` counts only that kind; ``None`` counts both.
    """
    if kind is not None and kind not in KINDS:
        raise ValidationError(f"kind = {kind!r}; valid kinds are {', '.join(KINDS)} or None")
    ops = layer_ops(config, seq_len)
    return config.layers * sum(op.macs for op in ops if kind is None or op.kind == kind)


def weight_count(config):
    """Weights of the encoder's matrix products (non-embedding, without biases and LayerNorm).

    These are the weights a crossbar must hold and the ones the paper's "77.3 G operations" for
    BERT-Large at 256 tokens counts (302 M x 256).
    """
    d, f = config.hidden, config.ffn
    return config.layers * (4 * d * d + 2 * d * f)


def bias_and_norm_count(config):
    """Biases of the six weight matrices plus LayerNorm gamma and beta, all layers."""
    d, f = config.hidden, config.ffn
    return config.layers * (4 * d + f + d + 4 * d)


def embedding_count(config):
    """Word, position and token-type embedding entries plus the embedding LayerNorm."""
    d = config.hidden
    return (config.vocab + config.max_position + config.type_vocab) * d + 2 * d


def ws_input_elements(config, seq_len):
    """Activation elements read by the weight-stationary products of the whole encoder.

    Each distinct input tensor counts once (Q, K and V share ``x``): per layer
    ``L (3 d + ffn)``. This is the activation traffic ``S_a`` of the latency bound, Eq. (8).
    """
    seen = {}
    for op in layer_ops(config, seq_len):
        if op.kind == "WS":
            seen[op.input_tensor] = op.input_elements
    return config.layers * sum(seen.values())
