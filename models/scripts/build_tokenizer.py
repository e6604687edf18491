#!/usr/bin/env python3
"""Build models/tokenizer.json (HF `tokenizers` format) from cn_clip's clip/vocab.txt.

The result reproduces cn_clip.clip.tokenize(texts, context_length=52):
BERT basic tokenizer (clean text, split CJK chars, lowercase, strip accents,
split punctuation) + greedy WordPiece, `[CLS] ... [SEP]`, truncated and
zero-padded to 52 ids.

No special token is registered as an "added token": cn_clip treats a literal
"[CLS]" typed by a user as ordinary text ("[", "cl", "##s", "]").

Usage: python models/scripts/build_tokenizer.py [--out models/tokenizer.json]
"""

import argparse
import os
import sys

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cnclip_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "tokenizer.json")

SMOKE = [
    "枯藤老树昏鸦",
    "小桥流水人家",
    "古道西风瘦马",
    "夕阳西下",
    "断肠人在天涯",
    "Hello 世界! café",
    "明月[CLS]光",
    "",
]


def load_vocab(path):
    """Same token -> id mapping as cn_clip's load_vocab.

    cn_clip uses line.strip().  Two lines of vocab.txt hold U+2028 (line
    separator): "\u2028" (id 343) and "##\u2028" (id 13502), which strip() turns
    into "" and "##" in cn_clip.  We keep the raw strings for those ids (an empty
    key is an odd thing to put in a WordPiece vocab).  None of the four forms can
    ever be looked up (U+2028 is whitespace to both tokenizers, and WordPiece never
    looks up "" or a bare "##"), so tokenisation is unaffected.
    """
    vocab = {}
    with open(path, "r", encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, raw in enumerate(lines):
        tok = raw.strip()
        if tok != raw:
            assert tok in ("", "##") and raw.strip("#") == "\u2028", (
                f"vocab line {i + 1}: unexpected surrounding whitespace {raw!r}")
            tok = raw
        assert tok not in vocab, f"duplicate vocab entry {tok!r}"
        vocab[tok] = i
    return vocab


def build(vocab, max_input_chars_per_word, context_length=cnclip_ref.CONTEXT_LENGTH):
    cls_id, sep_id, pad_id, unk_id = (vocab[t] for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"))
    assert pad_id == 0, pad_id
    tok = Tokenizer(
        models.WordPiece(
            vocab=vocab,
            unk_token="[UNK]",
            continuing_subword_prefix="##",
            max_input_chars_per_word=max_input_chars_per_word,
        )
    )
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.enable_truncation(max_length=context_length)
    tok.enable_padding(length=context_length, pad_id=pad_id, pad_token="[PAD]")
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    vpath = cnclip_ref.vocab_path()
    vocab = load_vocab(vpath)
    # cn_clip's FullTokenizer keeps WordpieceTokenizer's default (200, not BERT's 100).
    max_chars = cnclip_ref.full_tokenizer().wordpiece_tokenizer.max_input_chars_per_word
    print(f"vocab: {vpath} ({len(vocab)} entries), max_input_chars_per_word={max_chars}")
    tok = build(vocab, max_chars)
    assert not tok.get_added_tokens_decoder(), "no added tokens expected"
    tok.save(args.out, pretty=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")

    if cnclip_ref.torch_tokenize() is None:
        print("cn_clip.clip.tokenize needs torch (not installed): "
              "checking against cn_clip's FullTokenizer loaded by path")
    reloaded = Tokenizer.from_file(args.out)
    ref = cnclip_ref.reference_ids(SMOKE)
    got = [e.ids for e in reloaded.encode_batch(SMOKE)]
    ok = sum(r == g for r, g in zip(ref, got))
    for text, r, g in zip(SMOKE, ref, got):
        if r != g:
            print(f"MISMATCH {text!r}\n  cn_clip: {r}\n  hf:      {g}")
    print(f"smoke check: {ok}/{len(SMOKE)} match cn_clip")
    if ok != len(SMOKE):
        sys.exit(1)


if __name__ == "__main__":
    main()
