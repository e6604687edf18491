"""Reference tokenisation from the installed cn_clip package, without torch.

`import cn_clip.clip` runs cn_clip/clip/__init__.py, which imports the model
code and therefore torch.  The tokenizer itself (cn_clip/clip/bert_tokenizer.py)
is pure Python (it only needs `six`), so we load that one file by path and
reproduce `cn_clip.clip.utils.tokenize`:

    [CLS] + ids(tokens)[:context_length - 2] + [SEP], zero-padded to context_length

If torch happens to be installed, `reference_ids` also runs the real
`cn_clip.clip.tokenize` and asserts that both agree.
"""

import importlib.util
import os

CONTEXT_LENGTH = 52


def cnclip_dir():
    spec = importlib.util.find_spec("cn_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "cn_clip is not installed: pip install --no-deps -r models/requirements-nodeps.txt"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "clip")


def vocab_path():
    return os.path.join(cnclip_dir(), "vocab.txt")


_bert = None


def bert_tokenizer_module():
    """cn_clip/clip/bert_tokenizer.py loaded by path (does not import cn_clip.clip)."""
    global _bert
    if _bert is None:
        path = os.path.join(cnclip_dir(), "bert_tokenizer.py")
        spec = importlib.util.spec_from_file_location("cnclip_bert_tokenizer", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _bert = mod
    return _bert


_full = None


def full_tokenizer():
    global _full
    if _full is None:
        _full = bert_tokenizer_module().FullTokenizer(vocab_file=vocab_path())
    return _full


def torch_tokenize():
    """cn_clip.clip.tokenize if it can be imported (needs torch), else None."""
    try:
        from cn_clip.clip import tokenize  # noqa: imports torch
    except ImportError:
        return None
    return tokenize


def reference_ids(texts, context_length=CONTEXT_LENGTH):
    """Exactly what cn_clip.clip.utils.tokenize returns, as lists of ints."""
    tok = full_tokenizer()
    out = []
    for text in texts:
        ids = (
            [tok.vocab["[CLS]"]]
            + tok.convert_tokens_to_ids(tok.tokenize(text))[: context_length - 2]
            + [tok.vocab["[SEP]"]]
        )
        assert len(ids) <= context_length
        out.append(ids + [0] * (context_length - len(ids)))
    real = torch_tokenize()
    if real is not None:
        got = real(list(texts), context_length=context_length).tolist()
        assert got == out, "cn_clip.clip.tokenize disagrees with the reproduction"
    return out
