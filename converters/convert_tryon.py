"""Convert an ImageTextModel checkpoint (image tower + text tower + fusion head) into a
tailor "tryon" bundle.

    python converters/convert.py tryon CHECKPOINT.pt OUT.safetensors --text-model HF_DIR

CHECKPOINT is what torch.save wrote, read with weights_only=True (no code from the file
runs):
  - converters/reference_model.py's save_checkpoint(): {"state_dict", "head_config",
    "text_config"}; every choice is recorded, no flags needed;
  - a bare state dict of the reference model, or of the original layout
    (image_encoder.*, text_encoder.bert.*, text_encoder.classifier.*, fc.*).
HF_DIR is the Hugging Face folder the text tower came from (config.json, vocab.txt,
tokenizer_config.json; a sentence-transformers folder works too): the vocab and tokenizer
flags come from it, and the config too when the checkpoint does not carry one.

The head is recognised from its tensors (fc.* -> concat_linear, fc.0.* + fc.2.* ->
concat_mlp, fc_image.* + fc_text.* + late_weight -> late), and the features from the width
of the head's input: the image feature is "pooled" (2048) or "logits" (the ResNet's fc
outputs), the text feature "logits" (the BERT classifier's outputs) or one of
pooler / cls / mean (hidden_size wide; which one cannot be read off the weights, so
--text-feature says it unless the checkpoint records it). When no combination of widths fits,
as in the original sketch's nn.Linear(2048, 1), the conversion is refused with the widths
that would fit.

Bundle: tensors "image.*" (BatchNorm folded), "text.*" (BertModel names + classifier.*),
"head.*" (the reference's names); tailor.config = {"image": .., "text": .., "head": ..}.
"""
from __future__ import annotations

import os
import sys

import convert_bert
import convert_resnet50
from tailor_bundle import ConversionError, source_record, write_bundle

HELP = "ImageTextModel checkpoint (ResNet50 + BERT + fusion head) -> tryon bundle"

HEAD_KEYS = ("fc.", "fc_image.", "fc_text.", "late_weight")
TEXT_HIDDEN_FEATURES = ("pooler", "cls", "mean")


def add_arguments(p) -> None:
    p.add_argument("checkpoint", help="torch.save'd checkpoint or state dict of the ImageTextModel")
    p.add_argument("out", help="bundle to write (.safetensors)")
    p.add_argument("--text-model", required=True, metavar="HF_DIR",
                   help="Hugging Face folder of the text tower (vocab.txt, tokenizer_config.json, config.json)")
    p.add_argument("--image-feature", choices=["pooled", "logits"],
                   help="override the image feature inferred from the head's input width")
    p.add_argument("--text-feature", choices=["pooler", "cls", "mean", "logits"],
                   help="the text feature the head was trained on (needed when it is hidden_size wide)")
    p.add_argument("--preprocess", choices=["v1", "v2"], default="v1",
                   help="image preprocessing: v1 = Resize 256 (IMAGENET1K_V1), v2 = Resize 232 (default v1)")
    p.add_argument("--resize", type=int, metavar="N", help="override the preset's Resize (short side)")
    p.add_argument("--crop", type=int, metavar="N", help="override the preset's CenterCrop size")
    p.add_argument("--untrained", default="", metavar="PARTS",
                   help="comma-separated parts with random weights (image,text,head), labelled in every output")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32", help="storage dtype (default f32)")


def load_checkpoint(path: str):
    """(state dict, head_config or None, text_config or None) of a checkpoint file."""
    import torch

    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConversionError(f"{path}: cannot be read as a PyTorch checkpoint with weights_only=True ({e}); "
                              "save the model's state_dict() rather than the pickled module") from None
    head_config = text_config = None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        head_config, text_config = obj.get("head_config"), obj.get("text_config")
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    if any(k.startswith("module.") for k in obj):  # DataParallel
        obj = {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}
    return obj, head_config, text_config


def split_state_dict(sd: dict, where: str):
    """(image sd, text sd, head sd) by the reference model's prefixes."""
    image = {k[len("image_encoder."):]: v for k, v in sd.items() if k.startswith("image_encoder.")}
    text = {k[len("text_encoder."):]: v for k, v in sd.items() if k.startswith("text_encoder.")}
    head = {k: v for k, v in sd.items() if k.startswith(HEAD_KEYS)}
    other = [k for k in sd if not k.startswith(("image_encoder.", "text_encoder.")) and k not in head]
    if not image:
        raise ConversionError(f"{where}: no image_encoder.* tensors: not an ImageTextModel checkpoint")
    if not text:
        raise ConversionError(f"{where}: no text_encoder.* tensors: not an ImageTextModel checkpoint")
    if not head:
        raise ConversionError(f"{where}: no head tensors (fc.*, or fc_image.* / fc_text.* / late_weight)")
    if other:
        raise ConversionError(f"{where}: unexpected tensors outside the towers and the head: {', '.join(other[:5])}")
    return image, text, head


def head_layout(head: dict, where: str):
    """(fusion, input width, n_out, mlp_hidden) from the head's tensors."""
    def shape(k):
        if k not in head:
            raise ConversionError(f"{where}: head tensor {k!r} is missing")
        return tuple(head[k].shape)

    names = set(head)
    if names == {"fc.weight", "fc.bias"}:
        n_out, d = shape("fc.weight")
        return "concat_linear", d, n_out, None
    if names == {"fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"}:
        hidden, d = shape("fc.0.weight")
        n_out, h2 = shape("fc.2.weight")
        if h2 != hidden:
            raise ConversionError(f"{where}: fc.2.weight takes {h2} inputs but fc.0 gives {hidden}")
        return "concat_mlp", d, n_out, hidden
    if names == {"fc_image.weight", "fc_image.bias", "fc_text.weight", "fc_text.bias", "late_weight"}:
        n_out, _ = shape("fc_image.weight")
        if shape("fc_text.weight")[0] != n_out or shape("late_weight") != (2,):
            raise ConversionError(f"{where}: late-fusion head tensors disagree on the number of outputs")
        return "late", None, n_out, None
    raise ConversionError(f"{where}: unrecognised head tensors {sorted(names)}; expected fc.* (concat_linear), "
                          "fc.0.* + fc.2.* (concat_mlp) or fc_image.* + fc_text.* + late_weight (late)")


def infer_features(fusion, d_in, head, num_classes, hidden, num_labels, args, recorded, where):
    """(image_feature, text_feature) consistent with the head's widths and the flags."""
    img_opts = {"pooled": 2048}
    if num_classes:
        img_opts["logits"] = num_classes
    txt_opts = {"hidden": hidden}
    if num_labels:
        txt_opts["logits"] = num_labels
    if fusion == "late":
        d_img = int(head["fc_image.weight"].shape[1])
        d_txt = int(head["fc_text.weight"].shape[1])
        fits = [(i, t) for i, wi in img_opts.items() for t, wt in txt_opts.items() if wi == d_img and wt == d_txt]
        widths = f"fc_image takes {d_img} and fc_text {d_txt} inputs"
    else:
        fits = [(i, t) for i, wi in img_opts.items() for t, wt in txt_opts.items() if wi + wt == d_in]
        widths = f"the head takes {d_in} inputs"
    want_img = args.image_feature or (recorded or {}).get("image_feature")
    want_txt = args.text_feature or (recorded or {}).get("text_feature")
    if want_img:
        fits = [f for f in fits if f[0] == want_img]
    if want_txt:
        fits = [f for f in fits if f[1] == ("logits" if want_txt == "logits" else "hidden")]
    if not fits:
        combos = []
        for i, wi in img_opts.items():
            for t, wt in txt_opts.items():
                tname = "pooler/cls/mean" if t == "hidden" else "logits"
                combos.append(f"image {i} ({wi}) + text {tname} ({wt}) = {wi + wt}")
        raise ConversionError(
            f"{where}: {widths}, but no feature combination fits"
            + (f" the requested features (image {want_img}, text {want_txt})" if want_img or want_txt else "")
            + ". Widths that would fit: " + "; ".join(combos)
            + ". (The original sketch's nn.Linear(2048, 1) fits none: the concatenation is wider than 2048; "
              "retrain the head with converters/reference_model.py.)")
    if len(fits) > 1:
        raise ConversionError(f"{where}: {widths}, which several feature combinations fit: {fits}; "
                              "pass --image-feature / --text-feature")
    img, txt = fits[0]
    if txt == "hidden":
        if not want_txt:
            raise ConversionError(f"{where}: {widths}: the text feature is hidden_size ({hidden}) wide, which "
                                  "the pooler, cls and mean features all are; pass --text-feature pooler|cls|mean")
        txt = want_txt
    return img, txt


def text_config(model_dir: str, recorded: dict | None, where: str) -> dict:
    """The BERT config.json of the text tower (the checkpoint's, else the folder's)."""
    cfg_path = os.path.join(model_dir, "config.json")
    cfg = dict(recorded) if recorded else convert_bert._read_json(cfg_path, "config.json")
    if cfg.get("model_type", "bert") != "bert":
        raise ConversionError(f"{where}: the text tower's model_type is {cfg.get('model_type')!r}, not 'bert'")
    for k in convert_bert.REQUIRED:
        if not isinstance(cfg.get(k), int) or cfg[k] <= 0:
            raise ConversionError(f"{where}: text config {k!r} is missing or not a positive integer")
    if cfg.get("hidden_act", "gelu") not in convert_bert.ACTIVATIONS:
        raise ConversionError(f"{where}: hidden_act {cfg.get('hidden_act')!r} is not supported")
    return cfg


def run(args) -> None:
    progress = not args.quiet
    sd, head_rec, text_rec = load_checkpoint(args.checkpoint)
    image_sd, text_sd, head_sd = split_state_dict(sd, args.checkpoint)

    # Image tower: torchvision names, BN folded.
    img_tensors, img_cfg = convert_resnet50.convert_state_dict(image_sd, "", progress=progress)

    # Text tower: config + vocab + tokenizer flags from the HF folder.
    if not os.path.isdir(args.text_model):
        raise ConversionError(f"{args.text_model}: not a folder (--text-model takes the Hugging Face folder)")
    st = convert_bert._sentence_transformers(args.text_model)
    model_dir, _, _, st_max_seq = st if st else (args.text_model, None, False, None)
    tcfg = text_config(model_dir, text_rec, args.checkpoint)
    text_np = {k: v.detach().float().numpy() for k, v in text_sd.items()}
    txt_tensors, _ = convert_bert._bert_tensors(text_np, tcfg, args.checkpoint + " (text_encoder)")
    convert_bert._check_shapes(txt_tensors, tcfg, args.checkpoint + " (text_encoder)")
    num_labels = int(txt_tensors["classifier.weight"].shape[0]) if "classifier.weight" in txt_tensors else 0
    has_pooler = "pooler.dense.weight" in txt_tensors
    vocab, vocab_src = convert_bert._vocab(model_dir, tcfg["vocab_size"])
    tcfg = dict(tcfg, num_labels=num_labels, has_pooler=has_pooler)
    tcfg["tailor"] = {"pooling": "mean" if st else "cls", "normalize": False}
    tcfg["tokenizer"] = convert_bert._tokenizer_flags(model_dir, tcfg["max_position_embeddings"], st_max_seq)

    # Head.
    fusion, d_in, n_out, mlp_hidden = head_layout(head_sd, args.checkpoint)
    if head_rec and head_rec.get("fusion") not in (None, fusion):
        raise ConversionError(f"{args.checkpoint}: the recorded fusion {head_rec['fusion']!r} does not match "
                              f"the head's tensors ({fusion})")
    img_feat, txt_feat = infer_features(fusion, d_in, head_sd, img_cfg["num_classes"], tcfg["hidden_size"],
                                        num_labels, args, head_rec, args.checkpoint)
    head_cfg = {"fusion": fusion, "image_feature": img_feat, "text_feature": txt_feat, "n_out": n_out}
    if mlp_hidden:
        head_cfg["mlp_hidden"] = mlp_hidden
    head_tensors = {k: v.detach().float().numpy() for k, v in head_sd.items()}

    untrained = [p for p in args.untrained.split(",") if p]
    bad = [p for p in untrained if p not in ("image", "text", "head")]
    if bad:
        raise ConversionError(f"--untrained takes image, text and head, not {', '.join(bad)}")

    preprocess = dict(convert_resnet50.PREPROCESS[args.preprocess])
    for key in ("resize", "crop"):
        v = getattr(args, key)
        if v is not None:
            if not 1 <= v <= 16384:
                raise ConversionError(f"--{key} {v} is out of range 1..16384")
            preprocess[key] = v

    tensors = {}
    tensors.update({"image." + k: v for k, v in img_tensors.items()})
    order = [k for k in txt_tensors if not k.startswith("classifier.")] + \
            [k for k in txt_tensors if k.startswith("classifier.")]
    tensors.update({"text." + k: txt_tensors[k] for k in order})
    tensors.update({"head." + k: head_tensors[k] for k in sorted(head_tensors)})
    files = [args.checkpoint, vocab_src] + [os.path.join(model_dir, f) for f in ("config.json", "tokenizer_config.json")
                                           if os.path.exists(os.path.join(model_dir, f))]
    note = f"ImageTextModel: {fusion} over image {img_feat} + text {txt_feat} -> {n_out}"
    source = source_record(files, note=note, progress=progress)
    write_bundle(args.out, tensors, arch="tryon",
                 config={"image": img_cfg, "text": tcfg, "head": head_cfg}, vocab=vocab,
                 preprocess=preprocess, transforms=["bn_folded"],
                 untrained=untrained, source=source, storage=args.dtype, progress=progress)
    if progress:
        sys.stderr.write(f"wrote {args.out}: {note}" + (f"; untrained: {', '.join(untrained)}" if untrained else "")
                         + "\n")
