"""Hugging Face `tokenizers` side of bench/bench_tokenizer.cpp, and the inputs both use.

    python3 bench/tokenizer_hf.py /tmp/tokbench     # writes the inputs, times HF
    EMILY_TOKENIZER_BENCH_DIR=/tmp/tokbench build/bench/bench_tokenizer

Texts: English = the licence texts Debian ships in /usr/share/common-licenses; code =
this repository's C++ sources (src/, include/). Tokenizers (trained here, offline, on
both texts): a GPT-2-style byte-level BPE (vocab 16000), a Qwen2-style BPE (Split regex
+ ByteLevel, NFC) and a BERT-uncased WordPiece (vocab 16000). Encode throughput is
MB/s of UTF-8 input, one thread (RAYON_NUM_THREADS=1), one encode() of the whole text,
best of 5 after a warm-up (which fills both libraries' word caches). Times are CPU time
of the process (time.process_time; Google Benchmark's default on the C++ side), so that
other load on a shared machine does not count.
"""
import glob
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
from tokenizers import (Regex, Tokenizer, decoders, models, normalizers,  # noqa: E402
                        pre_tokenizers, trainers)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def texts():
    english = ""
    for name in ["GPL-3", "GPL-2", "LGPL-2.1", "Apache-2.0", "MPL-2.0", "GFDL-1.3", "Artistic"]:
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.exists(path):
            english += open(path, encoding="utf-8", errors="replace").read()
    code = ""
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "**", "*.cpp"), recursive=True) +
                       glob.glob(os.path.join(ROOT, "include", "**", "*.h"), recursive=True)):
        code += open(path, encoding="utf-8", errors="replace").read()
        if len(code) > 1 << 20:
            break
    return {"english": english, "code": code}


def train(kind, corpus):
    lines = [l for t in corpus.values() for l in t.splitlines()]
    if kind == "gpt2":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=16000, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif kind == "qwen2":
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=16000, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=16000, show_progress=False,
                                            special_tokens=["[UNK]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(lines, trainer)
    return tok


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/tokbench"
    os.makedirs(out, exist_ok=True)
    corpus = texts()
    for name, text in corpus.items():
        with open(os.path.join(out, name + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
    print("| tokenizer | text | bytes | HF tokens | HF MB/s |")
    print("|---|---|---|---|---|")
    for kind in ["gpt2", "qwen2", "bert"]:
        tok = train(kind, corpus)
        tok.save(os.path.join(out, kind + ".json"))
        tok = Tokenizer.from_file(os.path.join(out, kind + ".json"))
        for name, text in corpus.items():
            size = len(text.encode("utf-8"))
            tok.encode(text)  # warm-up
            best = min(_timed(tok, text) for _ in range(5))
            n = len(tok.encode(text).ids)
            print(f"| {kind} | {name} | {size} | {n} | {size / best / 1e6:.1f} |")


def _timed(tok, text):
    t = time.process_time()
    tok.encode(text)
    return time.process_time() - t


if __name__ == "__main__":
    main()
