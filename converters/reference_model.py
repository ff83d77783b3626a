"""The try-on model in PyTorch: the reference tailor serves, and what users train.

The original sketch of this model was broken in two ways:

    class ImageTextModel(nn.Module):
        def __init__(self):
            self.image_encoder = resnet50(pretrained=True)
            self.text_encoder = BertForSequenceClassification.from_pretrained('bert-base-uncased')
            self.fc = nn.Linear(2048, 1)                       # (1) 2048 inputs, but the concat is wider
        def forward(self, image, text):
            features = torch.cat((self.image_encoder(image),   # (N, 1000) logits, not 2048 features
                                  self.text_encoder(text)),    # (2) a SequenceClassifierOutput, not a tensor
                                 dim=1)
            return self.fc(features)

This module is the corrected model, with the choices made explicit:

- image feature: ``pooled`` (the 2048-d average-pooled features, ResNet50's ``fc`` unused) or
  ``logits`` (the 1000-d output of its ``fc``);
- text feature: ``pooler`` (BERT's tanh pooler over [CLS]), ``cls`` (the last hidden state
  of [CLS]), ``mean`` (the mean of the last hidden states over real tokens, as
  sentence-transformers pools), or ``logits`` (BertForSequenceClassification's classifier);
- fusion: ``concat_linear`` (the original: one Linear over the concatenation),
  ``concat_mlp`` (Linear -> ReLU -> Linear), or ``late`` (a weighted sum of one linear logit
  per tower: ``late_weight[0] * fc_image(img) + late_weight[1] * fc_text(txt)``);
- output: ``n_out`` logits; the probability is sigmoid for one output (BCEWithLogitsLoss
  training), softmax for several.

State-dict names (what converters/convert.py tryon reads): ``image_encoder.*`` (torchvision
ResNet50), ``text_encoder.*`` (a BertModel) or ``text_encoder.bert.*`` +
``text_encoder.classifier.*`` (BertForSequenceClassification, for the ``logits`` feature,
and the original layout), and the head: ``fc.*`` (concat_linear), ``fc.0.*`` + ``fc.2.*``
(concat_mlp), or ``fc_image.*`` + ``fc_text.*`` + ``late_weight`` (late).
:func:`save_checkpoint` stores the state dict with the model's config, so the converter
needs no flags.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import torch
import torch.nn as nn
import torchvision
import transformers

IMAGE_FEATURES = ("pooled", "logits")
TEXT_FEATURES = ("pooler", "cls", "mean", "logits")
FUSIONS = ("concat_linear", "concat_mlp", "late")


@dataclasses.dataclass
class HeadConfig:
    """The head's choices; stored in the bundle as tailor.config["head"]."""
    image_feature: str = "pooled"
    text_feature: str = "pooler"
    fusion: str = "concat_linear"
    n_out: int = 1
    mlp_hidden: int = 512          # concat_mlp only
    num_classes: int = 1000        # ResNet50 fc outputs (image feature "logits")
    num_labels: int = 2            # BERT classifier outputs (text feature "logits")

    def validate(self) -> None:
        if self.image_feature not in IMAGE_FEATURES:
            raise ValueError(f"image_feature must be one of {IMAGE_FEATURES}, not {self.image_feature!r}")
        if self.text_feature not in TEXT_FEATURES:
            raise ValueError(f"text_feature must be one of {TEXT_FEATURES}, not {self.text_feature!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")
        if self.n_out < 1 or self.mlp_hidden < 1:
            raise ValueError("n_out and mlp_hidden must be positive")

    def image_dim(self) -> int:
        return 2048 if self.image_feature == "pooled" else self.num_classes

    def text_dim(self, hidden_size: int) -> int:
        return self.num_labels if self.text_feature == "logits" else hidden_size


class ImageTextModel(nn.Module):
    """ResNet50 image tower + BERT text tower + fusion head -> n_out logits."""

    def __init__(self, text_config: transformers.BertConfig, head: HeadConfig | None = None,
                 image_encoder: nn.Module | None = None):
        """image_encoder: a torchvision ResNet to use instead of a fresh resnet50() (e.g. one
        with pretrained weights, or another Bottleneck depth); its fc must have num_classes outputs."""
        super().__init__()
        self.head_config = head = head or HeadConfig()
        head.validate()
        self.image_encoder = image_encoder or torchvision.models.resnet50(weights=None, num_classes=head.num_classes)
        if head.text_feature == "logits":
            cfg = transformers.BertConfig.from_dict(dict(text_config.to_dict(), num_labels=head.num_labels))
            self.text_encoder = transformers.BertForSequenceClassification(cfg)
        else:
            self.text_encoder = transformers.BertModel(text_config)
        d_img, d_txt = head.image_dim(), head.text_dim(text_config.hidden_size)
        if head.fusion == "concat_linear":
            self.fc = nn.Linear(d_img + d_txt, head.n_out)
        elif head.fusion == "concat_mlp":
            self.fc = nn.Sequential(nn.Linear(d_img + d_txt, head.mlp_hidden), nn.ReLU(),
                                    nn.Linear(head.mlp_hidden, head.n_out))
        else:
            self.fc_image = nn.Linear(d_img, head.n_out)
            self.fc_text = nn.Linear(d_txt, head.n_out)
            self.late_weight = nn.Parameter(torch.tensor([0.5, 0.5]))

    # -- towers ------------------------------------------------------------------------------
    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalized -> (N, 2048) pooled or (N, num_classes) logits."""
        r = self.image_encoder
        if self.head_config.image_feature == "logits":
            return r(image)
        x = r.maxpool(r.relu(r.bn1(r.conv1(image))))
        x = r.layer4(r.layer3(r.layer2(r.layer1(x))))
        return torch.flatten(r.avgpool(x), 1)

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, hidden) for pooler/cls/mean, (B, num_labels) for logits."""
        f = self.head_config.text_feature
        if f == "logits":
            return self.text_encoder(input_ids=input_ids, attention_mask=attention_mask,
                                     token_type_ids=token_type_ids).logits
        out = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        if f == "pooler":
            return out.pooler_output
        h = out.last_hidden_state
        if f == "cls":
            return h[:, 0]
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

    # -- head --------------------------------------------------------------------------------
    def fuse(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        """(N, d_img), (N, d_txt) -> (N, n_out) logits."""
        if self.head_config.fusion == "late":
            return self.late_weight[0] * self.fc_image(img) + self.late_weight[1] * self.fc_text(txt)
        return self.fc(torch.cat((img, txt), dim=1))

    def forward(self, image: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.fuse(self.image_features(image), self.text_features(input_ids, attention_mask, token_type_ids))

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.head_config.n_out == 1 else torch.softmax(logits, dim=-1)


def save_checkpoint(model: ImageTextModel, path: str, text_config: transformers.BertConfig) -> None:
    """A checkpoint convert.py tryon reads without flags: state dict + configs."""
    torch.save({"state_dict": model.state_dict(), "head_config": dataclasses.asdict(model.head_config),
                "text_config": text_config.to_dict()}, path)


def tokenize(tokenizer, texts: Sequence[str], max_length: int = 512):
    """HF tokenizer call matching tailor's defaults (special tokens, truncation, padding)."""
    return tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")


if __name__ == "__main__":
    # Smoke check: a tiny random model scores one pair.
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64)
    m = ImageTextModel(cfg, HeadConfig(text_feature="mean", fusion="concat_mlp")).eval()
    with torch.no_grad():
        logit = m(torch.randn(1, 3, 224, 224), torch.tensor([[2, 5, 3]]), torch.ones(1, 3, dtype=torch.long))
    print(json.dumps({"logit": logit.tolist(), "probability": m.probabilities(logit).tolist()}))
