"""Convert a Hugging Face BERT checkpoint folder into a tailor bundle.

    python converters/convert.py bert SRC_DIR OUT.safetensors [--dtype f32|f16|bf16]

SRC_DIR is what `save_pretrained` / the Hub gives: config.json (model_type "bert"), the
weights as model.safetensors or pytorch_model.bin (read with torch.load(weights_only=True):
no code from the file runs), and vocab.txt (or tokenizer.json) + tokenizer_config.json.
Accepted checkpoints:
  - BertModel (tensors "embeddings.*", "encoder.*", "pooler.*");
  - BertForSequenceClassification ("bert." prefix stripped, "classifier.*" kept: num_labels);
  - BertForMaskedLM / BertForPreTraining (the encoder is kept, the "cls.*" heads dropped);
  - sentence-transformers folders (modules.json): the Transformer module's BERT, plus its
    pooling (1_Pooling/config.json: cls or mean) and a Normalize module, recorded in the
    config as {"tailor": {"pooling": ..., "normalize": ...}}, and max_seq_length.
The bundle's tailor.config is config.json's fields plus num_labels, has_pooler, "tailor"
(default sentence pooling) and "tokenizer" (do_lower_case, strip_accents,
tokenize_chinese_chars, model_max_length from tokenizer_config.json, capped by
sentence-transformers' max_seq_length); tailor.vocab is the vocab verbatim.
"""
from __future__ import annotations

import json
import os

from tailor_bundle import ConversionError, source_record, write_bundle

HELP = "Hugging Face BERT / sentence-transformers folder -> bundle"

# BertConfig fields tailor reads (the rest of config.json is kept verbatim).
REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings")
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
ST_TRANSFORMER = "sentence_transformers.models.Transformer"
ST_POOLING = "sentence_transformers.models.Pooling"
ST_NORMALIZE = "sentence_transformers.models.Normalize"


def add_arguments(p) -> None:
    p.add_argument("src", help="Hugging Face model folder (config.json + weights + vocab.txt), "
                               "or a sentence-transformers folder")
    p.add_argument("out", help="bundle to write (.safetensors)")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32", help="storage dtype (default f32)")


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: {what} is not valid JSON ({e})") from None
    if not isinstance(j, dict) and what != "modules.json":
        raise ConversionError(f"{path}: {what} is not a JSON object")
    return j


def _sentence_transformers(src: str):
    """(model folder, pooling, normalize, max_seq_length) of a sentence-transformers folder,
    or None when `src` is a plain Hugging Face folder."""
    modules_path = os.path.join(src, "modules.json")
    if not os.path.exists(modules_path):
        return None
    modules = _read_json(modules_path, "modules.json")
    if not isinstance(modules, list):
        raise ConversionError(f"{modules_path}: expected a list of modules")
    model_dir, pooling, normalize = None, None, False
    for m in modules:
        kind, path = m.get("type", ""), m.get("path", "")
        if kind == ST_TRANSFORMER:
            model_dir = os.path.join(src, path)
        elif kind == ST_POOLING:
            cfg = _read_json(os.path.join(src, path, "config.json"), "pooling config.json")
            modes = [k for k in ("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens",
                                 "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                 "pooling_mode_lasttoken") if cfg.get(k)]
            if modes == ["pooling_mode_cls_token"]:
                pooling = "cls"
            elif modes == ["pooling_mode_mean_tokens"]:
                pooling = "mean"
            else:
                raise ConversionError(f"{src}: sentence-transformers pooling {modes or 'none'} is not supported "
                                      "(tailor pools with cls or mean)")
        elif kind == ST_NORMALIZE:
            normalize = True
        else:
            raise ConversionError(f"{src}: sentence-transformers module {kind!r} is not supported "
                                  "(tailor runs Transformer -> Pooling (cls/mean) -> Normalize)")
    if model_dir is None:
        raise ConversionError(f"{modules_path}: no {ST_TRANSFORMER} module")
    max_seq = None
    for name in ("sentence_bert_config.json", "sentence_xlnet_config.json"):
        p = os.path.join(model_dir, name)
        if os.path.exists(p):
            max_seq = _read_json(p, name).get("max_seq_length")
    return model_dir, pooling, normalize, max_seq


def _load_state_dict(model_dir: str):
    """(path, {name: float32 numpy array}) of the folder's weights."""
    import numpy as np

    st = os.path.join(model_dir, "model.safetensors")
    pt = os.path.join(model_dir, "pytorch_model.bin")
    if os.path.exists(st):
        from safetensors.numpy import load_file
        try:
            sd = load_file(st)
        except Exception as e:  # safetensors raises its own error types
            raise ConversionError(f"{st}: not a readable safetensors file ({e})") from None
        return st, sd
    if os.path.exists(pt):
        import torch
        try:
            sd = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ConversionError(f"{pt}: cannot be read as a PyTorch state dict ({e}); "
                                  "is it a Git LFS pointer or a pickled model?") from None
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict):
            raise ConversionError(f"{pt}: holds a {type(sd).__name__}, not a state dict")
        return pt, {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy()
                    for k, v in sd.items() if hasattr(v, "numpy")}
    sharded = [f for f in os.listdir(model_dir) if f.endswith(".index.json")]
    if sharded:
        raise ConversionError(f"{model_dir}: sharded checkpoints ({sharded[0]}) are not supported; "
                              "save the model unsharded (save_pretrained(max_shard_size='2GB'))")
    raise ConversionError(f"{model_dir}: no model.safetensors or pytorch_model.bin")


def _bert_tensors(sd: dict, config: dict, where: str):
    """BertModel-named float32 tensors (+ classifier.*), and what was dropped."""
    import numpy as np

    has_prefix = any(k.startswith("bert.") for k in sd)
    out, dropped = {}, []
    for k, v in sd.items():
        name = k
        if has_prefix:
            if k.startswith("bert."):
                name = k[len("bert."):]
            elif k.startswith("classifier."):
                name = k
            else:
                dropped.append(k)  # cls.* (MLM / NSP heads), qa_outputs, ...
                continue
        if name.endswith("position_ids") or name.endswith("token_type_ids"):
            dropped.append(k)  # buffers, not weights
            continue
        if not name.startswith(("embeddings.", "encoder.", "pooler.", "classifier.")):
            dropped.append(k)
            continue
        a = np.asarray(v)
        if a.dtype.kind != "f":
            raise ConversionError(f"{where}: tensor {k!r} has dtype {a.dtype}, not a float")
        out[name] = np.ascontiguousarray(a, dtype=np.float32)
    if "embeddings.word_embeddings.weight" not in out:
        raise ConversionError(f"{where}: no BERT embeddings (embeddings.word_embeddings.weight); "
                              "is this a BERT checkpoint?")
    return out, dropped


def _check_shapes(t: dict, cfg: dict, where: str) -> None:
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    want = {"embeddings.word_embeddings.weight": (V, H),
            "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], H),
            "embeddings.token_type_embeddings.weight": (cfg.get("type_vocab_size", 2), H)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        want[p + "attention.self.query.weight"] = (H, H)
        want[p + "intermediate.dense.weight"] = (I, H)
        want[p + "output.dense.weight"] = (H, I)
    for name, shape in want.items():
        if name not in t:
            raise ConversionError(f"{where}: missing tensor {name!r} for a {cfg['num_hidden_layers']}-layer BERT")
        if tuple(t[name].shape) != tuple(shape):
            raise ConversionError(f"{where}: tensor {name!r} has shape {tuple(t[name].shape)} but config.json "
                                  f"implies {tuple(shape)}")
    extra = [k for k in t if k.startswith("encoder.layer.") and int(k.split(".")[2]) >= cfg["num_hidden_layers"]]
    if extra:
        raise ConversionError(f"{where}: tensor {extra[0]!r} is beyond num_hidden_layers = {cfg['num_hidden_layers']}")


def _tokenizer_flags(model_dir: str, max_positions: int, st_max_seq) -> dict:
    path = os.path.join(model_dir, "tokenizer_config.json")
    tc = _read_json(path, "tokenizer_config.json") if os.path.exists(path) else {}
    flags = {"do_lower_case": bool(tc.get("do_lower_case", True)),
             "tokenize_chinese_chars": bool(tc.get("tokenize_chinese_chars", True))}
    if tc.get("strip_accents") is not None:
        flags["strip_accents"] = bool(tc["strip_accents"])
    mml = tc.get("model_max_length")
    # HF writes a huge sentinel (int(1e30)) when the length is unknown: use the position table.
    mml = int(mml) if isinstance(mml, (int, float)) and 0 < mml <= max_positions else max_positions
    if isinstance(st_max_seq, int) and 0 < st_max_seq < mml:
        mml = st_max_seq
    flags["model_max_length"] = mml
    return flags


def _vocab(model_dir: str, vocab_size: int) -> tuple[str, str]:
    """(vocab text, the file it came from)."""
    vt = os.path.join(model_dir, "vocab.txt")
    if os.path.exists(vt):
        with open(vt, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConversionError(f"{vt}: not UTF-8 ({e})") from None
        if text.startswith("version https://git-lfs"):
            raise ConversionError(f"{vt}: is a Git LFS pointer, not the vocab (run git lfs pull)")
        src = vt
    else:
        tj = os.path.join(model_dir, "tokenizer.json")
        if not os.path.exists(tj):
            raise ConversionError(f"{model_dir}: no vocab.txt or tokenizer.json")
        j = _read_json(tj, "tokenizer.json")
        model = j.get("model") or {}
        if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
            raise ConversionError(f"{tj}: not a WordPiece tokenizer")
        by_id = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        if [i for _, i in by_id] != list(range(len(by_id))):
            raise ConversionError(f"{tj}: the vocab ids are not 0..n-1")
        text = "".join(tok + "\n" for tok, _ in by_id)
        src = tj
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != vocab_size:
        raise ConversionError(f"{src}: {len(lines)} tokens but config.json says vocab_size = {vocab_size}")
    return text, src


def run(args) -> None:
    src = args.src
    if not os.path.isdir(src):
        raise ConversionError(f"{src}: not a folder; pass the Hugging Face model folder "
                              "(config.json, model.safetensors or pytorch_model.bin, vocab.txt)")
    st = _sentence_transformers(src)
    model_dir, pooling, normalize, st_max_seq = st if st else (src, None, False, None)
    cfg_path = os.path.join(model_dir, "config.json")
    if not os.path.exists(cfg_path):
        raise ConversionError(f"{model_dir}: no config.json")
    cfg = _read_json(cfg_path, "config.json")
    mt = cfg.get("model_type")
    if mt != "bert":
        arch = ", ".join(cfg.get("architectures") or []) or "unknown architecture"
        raise ConversionError(f"{cfg_path}: model_type is {mt!r} ({arch}), not 'bert'; "
                              "this converter takes BERT checkpoints only")
    for k in REQUIRED:
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0:
            raise ConversionError(f"{cfg_path}: {k!r} is missing or not a positive integer")
    if cfg.get("hidden_act", "gelu") not in ACTIVATIONS:
        raise ConversionError(f"{cfg_path}: hidden_act {cfg.get('hidden_act')!r} is not supported "
                              f"(tailor runs {', '.join(ACTIVATIONS)})")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ConversionError(f"{cfg_path}: position_embedding_type {cfg['position_embedding_type']!r} "
                              "is not supported (absolute only)")
    if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
        raise ConversionError(f"{cfg_path}: decoder / cross-attention BERTs are not supported")

    weights_path, sd = _load_state_dict(model_dir)
    tensors, dropped = _bert_tensors(sd, cfg, weights_path)
    _check_shapes(tensors, cfg, weights_path)
    has_pooler = "pooler.dense.weight" in tensors
    num_labels = 0
    if "classifier.weight" in tensors:
        num_labels = int(tensors["classifier.weight"].shape[0])
        if tensors["classifier.weight"].shape[1] != cfg["hidden_size"]:
            raise ConversionError(f"{weights_path}: classifier.weight has shape "
                                  f"{tuple(tensors['classifier.weight'].shape)}; expected (num_labels, hidden_size)")
        if not has_pooler:
            raise ConversionError(f"{weights_path}: a classifier without a pooler is not a "
                                  "BertForSequenceClassification")
    vocab, vocab_src = _vocab(model_dir, cfg["vocab_size"])

    config = dict(cfg)
    config["num_labels"] = num_labels
    config["has_pooler"] = has_pooler
    if pooling is None:
        pooling = "cls"
    config["tailor"] = {"pooling": pooling, "normalize": bool(normalize)}
    config["tokenizer"] = _tokenizer_flags(model_dir, cfg["max_position_embeddings"], st_max_seq)

    files = [cfg_path, weights_path, vocab_src]
    for extra in ("tokenizer_config.json",):
        if os.path.exists(os.path.join(model_dir, extra)):
            files.append(os.path.join(model_dir, extra))
    if st:
        files.append(os.path.join(src, "modules.json"))
    note = "BERT"
    if num_labels:
        note = f"BertForSequenceClassification ({num_labels} labels)"
    if st:
        note += f", sentence-transformers pooling {pooling}" + (" + normalize" if normalize else "")
    if dropped:
        note += f"; dropped {len(dropped)} tensors not used by the encoder ({', '.join(sorted(dropped)[:3])}" + \
                (", ..." if len(dropped) > 3 else "") + ")"
    source = source_record(files, note=note, progress=not args.quiet)

    # Tensor order: BertModel's state_dict order, then the classifier.
    ordered = {k: tensors[k] for k in tensors if not k.startswith("classifier.")}
    ordered.update({k: tensors[k] for k in tensors if k.startswith("classifier.")})
    write_bundle(args.out, ordered, arch="bert", config=config, vocab=vocab, source=source,
                 storage=args.dtype, progress=not args.quiet)
    if not args.quiet:
        print(f"wrote {args.out}: {note}, {len(ordered)} tensors, "
              f"{cfg['num_hidden_layers']} layers x {cfg['hidden_size']}, pooling {pooling}"
              + (" + normalize" if normalize else ""))
